// The security policy pages: a namespace's (/ui/n/NS/security: its signature trust and
// vulnerability policies, which its administrators edit) and the registry's (/ui/admin/security,
// administrators: the global trust policy, and the global vulnerability policy from the
// configuration file).
import { AdminTabs } from './admin.js';
import { Alert, NeedSignIn, PageTitle, Spinner, useLoad, useSession } from './components.js';
import { mayManage } from './retention.js';
import { TrustPolicyCard } from './trust-policies.js';
import { GlobalVulnerabilityPolicy, VulnerabilityPolicyCard } from './vulnerability-policy.js';

/** /ui/n/NS/security: the namespace's trust and vulnerability policies. */
export function NamespaceSecurityPage({ ns }: { ns: string }) {
  const { user } = useSession();
  const manage = useLoad<boolean>(() => mayManage(user, ns), [ns, user?.name]);
  if (!user) return <NeedSignIn what={`see the security policies of ${ns}`} />;
  if (manage.data === undefined && !manage.error) return <Spinner />;
  const canEdit = manage.data === true;
  return (
    <div class="stack">
      <section class="card" aria-labelledby="page-title">
        <PageTitle title={`Security policies of ${ns}`} />
        <p class="small muted">
          {canEdit ? 'As an administrator of the namespace you can change them.' : 'Only administrators of the namespace can change them.'} They apply to every
          repository of {ns} without a policy of its own (a repository's settings set one). <a href={`/ui/n/${ns}/retention`}>Retention policies</a> ·{' '}
          <a href={`/ui/n/${ns}/tag-rules`}>Immutable tags</a>
        </p>
      </section>
      <TrustPolicyCard path={`/namespaces/${ns}/trust-policy`} heading="Signature trust policy" canEdit={canEdit} />
      <VulnerabilityPolicyCard ns={ns} canEdit={canEdit} />
    </div>
  );
}

/** /ui/admin/security: the global policies, for administrators. */
export function AdminSecurityPage() {
  const { user } = useSession();
  if (!user) return <NeedSignIn what="administer Berth" />;
  if (!user.admin) return <Alert>Administrators only.</Alert>;
  return (
    <>
      <PageTitle title="Administration" />
      <AdminTabs current="security" />
      <div class="stack">
        <TrustPolicyCard path="/trust-policy" heading="Global signature trust policy" canEdit />
        <GlobalVulnerabilityPolicy ns={user.name} />
      </div>
    </>
  );
}
