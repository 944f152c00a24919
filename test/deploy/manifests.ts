// Reading the shipped deployment files for the deploy tests: Kubernetes manifests, the compose file,
// the documented `kubectl create secret` command.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { REPO_ROOT } from '../helpers/shared.js';

export type Obj = Record<string, any>;

export const K8S_DIR = path.join(REPO_ROOT, 'deploy/kubernetes');

export function readText(rel: string): string {
  return readFileSync(path.join(REPO_ROOT, rel), 'utf8');
}

/** Every object of every deploy/kubernetes/*.yaml, with the file it came from. */
export function kubernetesObjects(): { file: string; obj: Obj }[] {
  const out: { file: string; obj: Obj }[] = [];
  for (const f of readdirSync(K8S_DIR).filter((n) => n.endsWith('.yaml'))) {
    // Kubernetes reads YAML 1.1 (0440 is octal there); nothing the tests look at depends on it.
    for (const doc of YAML.parseAllDocuments(readFileSync(path.join(K8S_DIR, f), 'utf8'), { version: '1.1' })) {
      if (doc.errors.length > 0) throw new Error(`${f}: ${doc.errors[0].message}`);
      const obj = doc.toJS() as Obj | null;
      if (obj) out.push({ file: f, obj });
    }
  }
  return out;
}

export function find(kind: string, name: string): Obj {
  const hit = kubernetesObjects().find((o) => o.obj.kind === kind && o.obj.metadata?.name === name);
  if (!hit) throw new Error(`no ${kind}/${name} in deploy/kubernetes`);
  return hit.obj;
}

/** Workloads' pod specs: Deployments, StatefulSets, Jobs. */
export function podSpecs(): { where: string; spec: Obj; labels: Obj }[] {
  return kubernetesObjects()
    .filter((o) => ['Deployment', 'StatefulSet', 'Job', 'DaemonSet'].includes(o.obj.kind))
    .map((o) => ({
      where: `${o.file} ${o.obj.kind}/${o.obj.metadata.name}`,
      spec: o.obj.spec.template.spec,
      labels: o.obj.spec.template.metadata?.labels ?? {},
    }));
}

/**
 * The keys of every `kubectl create secret generic NAME` command in `text` (shell continuation lines
 * joined; in a YAML comment the leading `#` is dropped).
 */
export function secretCommandKeys(text: string, name: string): Set<string>[] {
  const lines = text.split('\n').map((l) => l.replace(/^\s*#\s?/, ''));
  const joined = lines.join('\n').replace(/\\\n\s*/g, ' ');
  const out: Set<string>[] = [];
  for (const line of joined.split('\n')) {
    const m = new RegExp(`kubectl create secret generic ${name}\\b(.*)$`).exec(line);
    if (!m) continue;
    out.push(new Set([...m[1].matchAll(/--from-(?:literal|file)=([a-z0-9.-]+)=/g)].map((x) => x[1])));
  }
  return out;
}
