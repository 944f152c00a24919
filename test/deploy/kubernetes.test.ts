// The shipped Kubernetes manifests (deploy/kubernetes/*.yaml), checked as a cluster admission
// controller and a reviewer would: the restricted Pod Security Standard on every container, probes
// on routes Berth serves, a secret command that creates every key a pod reads, pinned images, an
// Ingress that lets pushes through, a drain that fits the grace period, and Berth's own config loads.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { closeApp, removeDir, startServer } from '../helpers/api-server.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { find, kubernetesObjects, type Obj, podSpecs, readText, secretCommandKeys } from './manifests.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'berth-k8s-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const deployment = () => find('Deployment', 'berth');
const berthContainer = () => deployment().spec.template.spec.containers.find((c: Obj) => c.name === 'berth');
const job = () => kubernetesObjects().find((o) => o.obj.kind === 'Job')!.obj;

/** The ConfigMap's berth.yml loaded as the pod loads it: the pod's env, its secret files given dummy values. */
function podConfig(container: Obj) {
  const file = path.join(tmp, 'berth.yml');
  writeFileSync(file, find('ConfigMap', 'berth').data['berth.yml']);
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.name.endsWith('_FILE')) {
      const secret = path.join(tmp, path.basename(e.value));
      writeFileSync(secret, e.name.includes('POSTGRES_URL') ? 'postgres://berth:pw@postgres:5432/berth\n' : 'a-secret-value-long-enough-1234\n');
      env[e.name] = secret;
    } else env[e.name] = e.value;
  }
  assert.equal(container.args.at(-1), '/etc/berth/berth.yml');
  return loadConfig({ file, env });
}

function allContainers(spec: Obj): Obj[] {
  return [...(spec.initContainers ?? []), ...spec.containers];
}

describe('Kubernetes manifests', () => {
  it('every container meets the restricted Pod Security Standard, with a read-only root and a writable /tmp', () => {
    const specs = podSpecs();
    assert.ok(specs.length >= 3, `Berth, its migration Job and PostgreSQL: ${specs.map((s) => s.where)}`);
    for (const { where, spec } of specs) {
      const pod = spec.securityContext ?? {};
      assert.ok(!spec.hostNetwork && !spec.hostPID && !spec.hostIPC, `${where}: no host namespaces`);
      assert.ok(!(spec.volumes ?? []).some((v: Obj) => v.hostPath), `${where}: no hostPath volumes`);
      for (const c of allContainers(spec)) {
        const sc = c.securityContext ?? {};
        const at = `${where} container ${c.name}`;
        assert.equal(sc.allowPrivilegeEscalation, false, `${at}: allowPrivilegeEscalation false`);
        assert.notEqual(sc.privileged, true, `${at}: not privileged`);
        assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${at}: drops ALL capabilities`);
        assert.ok(!sc.capabilities?.add || sc.capabilities.add.every((a: string) => a === 'NET_BIND_SERVICE'), `${at}: adds none but NET_BIND_SERVICE`);
        assert.equal(sc.runAsNonRoot ?? pod.runAsNonRoot, true, `${at}: runAsNonRoot`);
        assert.notEqual(sc.runAsUser ?? pod.runAsUser, 0, `${at}: not uid 0`);
        assert.equal((sc.seccompProfile ?? pod.seccompProfile)?.type, 'RuntimeDefault', `${at}: seccomp RuntimeDefault`);
        assert.equal(sc.readOnlyRootFilesystem, true, `${at}: read-only root filesystem`);
        const tmpMount = (c.volumeMounts ?? []).find((m: Obj) => m.mountPath === '/tmp');
        assert.ok(tmpMount, `${at}: /tmp is mounted`);
        assert.ok(spec.volumes.find((v: Obj) => v.name === tmpMount.name)?.emptyDir, `${at}: /tmp is an emptyDir`);
      }
    }
  });

  it('liveness is /livez and readiness /readyz, on a port the container names, and Berth answers both', async () => {
    const c = berthContainer();
    assert.equal(c.livenessProbe.httpGet.path, '/livez');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    for (const probe of [c.livenessProbe, c.readinessProbe]) {
      assert.ok(
        c.ports.some((p: Obj) => p.name === probe.httpGet.port),
        `probe port ${probe.httpGet.port} is a named container port`,
      );
    }
    const srv = await startServer();
    try {
      for (const p of ['/livez', '/readyz']) {
        const res = await fetch(`${srv.url}${p}`);
        assert.equal(res.status, 200, `${p} on a healthy Berth`);
        await res.arrayBuffer();
      }
    } finally {
      await closeApp(srv.app);
      removeDir(srv.dir);
    }
  });

  it('the documented kubectl create secret command creates exactly the keys the pods read', () => {
    const read = new Set<string>();
    for (const { where, spec } of podSpecs()) {
      for (const c of allContainers(spec))
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (ref) {
            assert.equal(ref.name, 'berth', `${where} ${e.name}`);
            read.add(ref.key);
          }
        }
      for (const v of spec.volumes ?? []) {
        if (!v.secret) continue;
        assert.equal(v.secret.secretName, 'berth', where);
        assert.ok(v.secret.items?.length, `${where}: secret volume ${v.name} lists its keys`);
        for (const item of v.secret.items) read.add(item.key);
      }
    }
    assert.ok(read.has('postgres-password') && read.has('postgres-url'), [...read].join(', '));
    const commands = [
      ...secretCommandKeys(readText('deploy/kubernetes/berth.yaml'), 'berth').map((k) => ({ where: 'deploy/kubernetes/berth.yaml', keys: k })),
      ...secretCommandKeys(readText('docs/deployment.md'), 'berth').map((k) => ({ where: 'docs/deployment.md', keys: k })),
    ];
    assert.equal(commands.length, 2, 'the command is in berth.yaml and in docs/deployment.md');
    for (const { where, keys } of commands) assert.deepEqual([...keys].sort(), [...read].sort(), `${where}: keys created vs keys read`);
  });

  it('secrets reach Berth as files, never as environment values', () => {
    for (const e of berthContainer().env) {
      assert.ok(!e.valueFrom?.secretKeyRef, `${e.name} comes from a file`);
      if (/PASSWORD|SECRET|KEY|URL/.test(e.name)) assert.match(e.name, /_FILE$/, e.name);
    }
  });

  it('every image is pinned to an exact version (no latest, no bare major), Berth to this release', () => {
    const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    for (const { where, spec } of podSpecs()) {
      for (const c of allContainers(spec)) {
        assert.match(c.image, /(:\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?|@sha256:[0-9a-f]{64})$/, `${where}: ${c.image}`);
        assert.ok(!/:latest$/.test(c.image), c.image);
        if (c.image.includes('berth/berth')) assert.equal(c.image.split(':').at(-1), version, `${where}: Berth ${version}`);
      }
    }
  });

  it('trusts X-Forwarded-For only from the pod network, never from every peer; the config loads', () => {
    const config = podConfig(berthContainer());
    assert.notEqual(config.http.trustproxy, 'true');
    assert.ok(config.http.trustproxy.length > 0, 'behind ingress-nginx a proxy must be trusted for client addresses');
    for (const cidr of config.http.trustproxy.split(',')) assert.match(cidr, /\/\d+$/, cidr);
    const np = find('NetworkPolicy', 'berth');
    const http = np.spec.ingress.find((r: Obj) => r.ports.some((p: Obj) => p.port === 5000));
    assert.deepEqual(
      http.from,
      [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }],
      'only ingress-nginx reaches port 5000',
    );
    assert.equal(config.metadata.postgres?.url, 'postgres://berth:pw@postgres:5432/berth');
  });

  it('the grace period covers preStop and the drain, and rollouts never drop below the replica count', () => {
    const spec = deployment().spec.template.spec;
    const cmd = berthContainer().lifecycle.preStop.exec.command as string[];
    assert.equal(cmd[0], 'sleep');
    const preStop = Number(cmd[1]);
    assert.ok(preStop >= 5, 'long enough for the endpoint removal to reach ingress-nginx');
    const drain = podConfig(berthContainer()).http.draintimeout / 1000;
    assert.ok(drain >= 60, `in-flight uploads get ${drain} s`);
    assert.ok(
      spec.terminationGracePeriodSeconds >= preStop + drain + 5,
      `grace ${spec.terminationGracePeriodSeconds} s ≥ preStop ${preStop} + drain ${drain} + 5`,
    );
    assert.deepEqual(deployment().spec.strategy.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 });
  });

  it('spreads replicas over nodes and zones; Service, PDB and NetworkPolicy select the pods', () => {
    const labels = deployment().spec.template.metadata.labels;
    const matches = (sel: Obj) => Object.entries(sel).every(([k, v]) => labels[k] === v);
    const spread = deployment().spec.template.spec.topologySpreadConstraints as Obj[];
    assert.deepEqual(spread.map((s) => s.topologyKey).sort(), ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    for (const s of spread) assert.ok(matches(s.labelSelector.matchLabels), s.topologyKey);
    assert.ok(matches(find('Service', 'berth').spec.selector));
    assert.ok(matches(find('PodDisruptionBudget', 'berth').spec.selector.matchLabels));
    assert.ok(matches(find('NetworkPolicy', 'berth').spec.podSelector.matchLabels));
    assert.ok(matches(deployment().spec.selector.matchLabels));
  });

  it('migrations run in a Job with the same image and config; the replicas only check the schema', () => {
    const j = job();
    const c = j.spec.template.spec.containers[0];
    assert.deepEqual(c.args, ['migrate', '/etc/berth/berth.yml']);
    assert.equal(c.image, berthContainer().image);
    assert.equal(j.metadata.name, `berth-migrate-${c.image.split(':').at(-1).replaceAll('.', '-')}`, 'the Job is named for its release');
    assert.equal(podConfig(c).metadata.automigrate, false);
    assert.equal(podConfig(berthContainer()).metadata.automigrate, false);
  });

  it('the Ingress lets pushes through: no body limit, no buffering, long timeouts, to the Service port', () => {
    const ing = find('Ingress', 'berth');
    const a = ing.metadata.annotations as Record<string, string>;
    assert.equal(a['nginx.ingress.kubernetes.io/proxy-body-size'], '0');
    assert.equal(a['nginx.ingress.kubernetes.io/proxy-request-buffering'], 'off');
    assert.equal(a['nginx.ingress.kubernetes.io/proxy-buffering'], 'off');
    assert.ok(Number(a['nginx.ingress.kubernetes.io/proxy-read-timeout']) >= 600);
    assert.ok(Number(a['nginx.ingress.kubernetes.io/proxy-send-timeout']) >= 600);
    const backend = ing.spec.rules[0].http.paths[0].backend.service;
    assert.equal(backend.name, 'berth');
    assert.ok(find('Service', 'berth').spec.ports.some((p: Obj) => p.name === backend.port.name));
    const host = ing.spec.rules[0].host;
    assert.equal(podConfig(berthContainer()).http.host, `https://${host}`, 'http.host is the Ingress host');
  });
});
