// The web UI's entry point: the page frame (header, search box, navigation), the
// signed-in user, and the route table. Every page lives at a /ui/* URL the server
// answers with the same HTML, so links, reloads and the back button all work.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { onSessionEnded, setCsrf, ui, type User } from './api.js';
import { SessionContext, navigate, useLocation, useSession } from './components.js';
import { ExplorePage } from './explore.js';
import { RepositoryPage } from './repository.js';
import { NotificationsPage, SignInPage, TokensPage } from './account.js';
import { ModerationPage, UsersPage } from './admin.js';
import { QuotasPage, StoragePage } from './quotas.js';
import { ReplicationPage } from './replication.js';
import { RetentionPage } from './retention.js';
import { TagRulesPage } from './tags.js';
import { AdminSecurityPage, NamespaceSecurityPage } from './security.js';

function Logo() {
  return (
    <svg viewBox="0 0 32 32" aria-hidden="true">
      <rect width="32" height="32" rx="7" fill="currentColor" style={{ color: 'var(--accent)' }} />
      <path d="M7 20h18l-3 5H10z M10 17V9h5v8z M17 17v-6h5v6z" fill="#fff" />
    </svg>
  );
}

function Header({ path, search }: { path: string; search: URLSearchParams }) {
  const { user, setUser } = useSession();
  const [q, setQ] = useState(search.get('q') ?? '');
  useEffect(() => setQ(search.get('q') ?? ''), [search.get('q')]);
  const current = (p: string) => (path === p ? 'page' : undefined);
  const signOut = async () => {
    try {
      await ui.signOut();
    } finally {
      setCsrf('');
      setUser(null);
      navigate('/ui/');
    }
  };
  return (
    <header class="topbar">
      <div class="container">
        <a class="brand" href="/ui/">
          <Logo />
          <span>Berth</span>
        </a>
        {/* biome-ignore lint/a11y/useSemanticElements: <search> is not in Preact's JSX types; a form with role=search is equivalent */}
        <form
          class="topsearch"
          role="search"
          onSubmit={(e) => {
            e.preventDefault();
            navigate(`/ui/?q=${encodeURIComponent(q)}`);
          }}
        >
          <label class="sr-only" for="top-q">
            Search repositories
          </label>
          <input id="top-q" type="search" placeholder="Search repositories" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
        </form>
        <nav class="nav" aria-label="Main">
          <a href="/ui/" aria-current={current('/ui/')}>
            Explore
          </a>
          {user ? (
            <>
              <a href="/ui/notifications" aria-current={current('/ui/notifications')}>
                Watching
              </a>
              <a href="/ui/tokens" aria-current={current('/ui/tokens')}>
                Tokens
              </a>
              <a href="/ui/storage" aria-current={current('/ui/storage')}>
                Storage
              </a>
              {user.admin ? (
                <a href="/ui/admin/users" aria-current={path.startsWith('/ui/admin') ? 'page' : undefined}>
                  Admin
                </a>
              ) : null}
              <button type="button" class="link" onClick={signOut} title={`Signed in as ${user.name}`}>
                Sign out <span class="sr-only">{user.name}</span>
              </button>
            </>
          ) : (
            <a href={`/ui/sign-in?next=${encodeURIComponent(path + location.search)}`} aria-current={current('/ui/sign-in')}>
              Sign in
            </a>
          )}
        </nav>
      </div>
    </header>
  );
}

function NotFound() {
  return (
    <div class="card">
      <h1 id="page-title" tabIndex={-1}>
        Not found
      </h1>
      <p>
        There is nothing here. <a href="/ui/">Explore repositories</a>.
      </p>
    </div>
  );
}

function Route({ path, search }: { path: string; search: URLSearchParams }) {
  if (path === '/ui' || path === '/ui/') return <ExplorePage search={search} />;
  if (path === '/ui/sign-in') return <SignInPage next={search.get('next')} />;
  if (path === '/ui/tokens') return <TokensPage />;
  if (path === '/ui/notifications') return <NotificationsPage />;
  if (path === '/ui/admin/users') return <UsersPage />;
  if (path === '/ui/admin/moderation') return <ModerationPage />;
  if (path === '/ui/admin/quotas') return <QuotasPage />;
  if (path === '/ui/admin/replication') return <ReplicationPage />;
  if (path === '/ui/admin/security') return <AdminSecurityPage />;
  if (path === '/ui/storage') return <StoragePage />;
  const rules = /^\/ui\/n\/([^/]+)\/tag-rules$/.exec(path);
  if (rules) return <TagRulesPage ns={decodeURIComponent(rules[1])} />;
  const retention = /^\/ui\/n\/([^/]+)\/retention$/.exec(path);
  if (retention) return <RetentionPage ns={decodeURIComponent(retention[1])} />;
  const security = /^\/ui\/n\/([^/]+)\/security$/.exec(path);
  if (security) return <NamespaceSecurityPage ns={decodeURIComponent(security[1])} />;
  if (path.startsWith('/ui/r/')) {
    const rest = decodeURIComponent(path.slice('/ui/r/'.length));
    const i = rest.indexOf('/-/');
    const name = (i < 0 ? rest : rest.slice(0, i)).replace(/\/+$/, '');
    const sub = i < 0 ? '' : rest.slice(i + 3);
    if (name) return <RepositoryPage name={name} sub={sub} search={search} />;
  }
  return <NotFound />;
}

function App({ initial }: { initial: User | null }) {
  const [user, setUser] = useState<User | null>(initial);
  const { path, search } = useLocation();
  useEffect(() => onSessionEnded(() => setUser(null)), []);
  // After a navigation (not the first page): back to the top, focus on the new page's heading.
  const [first, setFirst] = useState(true);
  useEffect(() => {
    if (first) return setFirst(false);
    scrollTo(0, 0);
    const h = document.getElementById('page-title');
    if (h && document.activeElement !== document.getElementById('top-q')) h.focus({ preventScroll: true });
  }, [path]);
  return (
    <SessionContext.Provider value={{ user, setUser }}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <Header path={path} search={search} />
      <main id="main" class="container">
        <Route key={path} path={path} search={search} />
      </main>
      <footer class="site">Berth · an OCI registry and index</footer>
    </SessionContext.Provider>
  );
}

// Links inside the app change the page without a reload.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element | null)?.closest?.('a');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith('/ui/') || url.pathname.startsWith('/ui/assets/')) return;
  if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});

async function start(): Promise<void> {
  let user: User | null = null;
  try {
    const s = await ui.session();
    if (s.user && s.csrf) {
      setCsrf(s.csrf);
      user = s.user;
    }
  } catch {
    /* anonymous */
  }
  const root = document.getElementById('app')!;
  root.textContent = '';
  render(<App initial={user} />, root);
}

void start();
