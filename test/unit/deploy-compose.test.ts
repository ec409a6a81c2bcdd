/**
 * deploy/compose/compose.yaml cannot be run here (no Docker engine); what can be checked is: it parses as YAML
 * (with Python's yaml module when there is one, else skipped), every file it mounts from the repository exists, the
 * files an operator makes are named in the README's Docker Compose section, and its ports agree with the other
 * shipped files (mosquitto.conf's TLS listener, hub.example.json's httpPort, prometheus.yml's target and rule file).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/repo-root';

const ROOT = repoRoot(__dirname);
const COMPOSE_DIR = path.join(ROOT, 'deploy', 'compose');
const text = fs.readFileSync(path.join(COMPOSE_DIR, 'compose.yaml'), 'utf8');
/** Made by the operator, not shipped (README.md "Docker Compose" says how). */
const OPERATOR_MADE = ['./secrets/sitekd.passwd', './secrets/hub.env', './certs'];

/** Host side of each bind mount (`- host:container[:ro]`) and the env_file. */
function hostPaths(): string[] {
  const mounts = [...text.matchAll(/^\s+- (\.{1,2}\/[^:\s]+):\/[^\s]*$/gm)].map((m) => m[1] as string);
  const env = [...text.matchAll(/^\s+env_file: (\S+)$/gm)].map((m) => m[1] as string);
  return [...mounts, ...env];
}

test('compose.yaml mounts only files that exist in the repository, or that the README tells the operator to make', () => {
  const paths = hostPaths();
  assert.ok(paths.length >= 7, `found ${paths.join(', ')}`);
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Docker Compose'));
  assert.ok(readme.includes('## Docker Compose'), 'README.md has a Docker Compose section');
  for (const p of paths) {
    if (OPERATOR_MADE.includes(p)) assert.ok(section.includes(p.replace(/^\.\//, 'deploy/compose/')), `README names ${p}`);
    else assert.ok(fs.existsSync(path.resolve(COMPOSE_DIR, p)), `${p} exists`);
  }
  const context = /^\s+context: (\S+)$/m.exec(text)?.[1] as string;
  const dockerfile = /^\s+dockerfile: (\S+)$/m.exec(text)?.[1] as string;
  assert.ok(fs.existsSync(path.join(path.resolve(COMPOSE_DIR, context), dockerfile)), 'the Dockerfile');
});

test('compose.yaml, mosquitto.conf, hub.example.json and prometheus.yml agree on ports and files', () => {
  const conf = fs.readFileSync(path.join(ROOT, 'deploy', 'mosquitto', 'mosquitto.conf'), 'utf8');
  assert.match(conf, /^listener 8883$/m);
  assert.match(text, /- "8883:8883"/);
  const hub = JSON.parse(fs.readFileSync(path.join(ROOT, 'deploy', 'config', 'hub.example.json'), 'utf8')) as { httpPort: number; data: string; broker: string };
  const prom = fs.readFileSync(path.join(ROOT, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8');
  assert.match(prom, new RegExp(`targets: \\['127\\.0\\.0\\.1:${hub.httpPort}'\\]`));
  assert.match(prom, /^\s+- sitekd-alerts\.yml$/m);
  assert.match(text, /:\/etc\/prometheus\/sitekd-alerts\.yml:ro$/m, 'the rules next to prometheus.yml');
  assert.ok(hub.data.startsWith('/opt/sitekd/data/'), 'the data mount holds the example data path');
  assert.match(conf, new RegExp(`^listener ${new URL(hub.broker).port} 127\\.0\\.0\\.1$`, 'm'), 'the hub reaches the password listener');
});

const yaml = spawnSync('python3', ['-c', 'import yaml'], { stdio: 'ignore' }).status === 0;
test('compose.yaml parses as YAML with the three services sharing the broker\'s network', { skip: yaml ? false : 'no python3 with the yaml module' }, () => {
  const r = spawnSync('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', path.join(COMPOSE_DIR, 'compose.yaml')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { services: Record<string, Record<string, unknown>>; volumes: Record<string, unknown> };
  assert.deepEqual(Object.keys(doc.services).sort(), ['hub', 'mosquitto', 'prometheus']);
  assert.equal(doc.services['hub']?.['network_mode'], 'service:mosquitto');
  assert.equal(doc.services['prometheus']?.['network_mode'], 'service:mosquitto');
  for (const s of Object.values(doc.services)) {
    for (const v of (s['volumes'] as string[] | undefined) ?? []) {
      const named = /^([a-z-]+):/.exec(v)?.[1];
      if (named !== undefined) assert.ok(named in doc.volumes, `volume ${named} declared`);
    }
  }
});
