/**
 * `sitekd credentials add|list|remove|export`: the hub's credentials + ACL store (hub/auth/) from the command line.
 * It edits `<state dir>/credentials.json` under a lock; a running hub picks the change up within seconds
 * (hub/mqtt/broker-auth.ts). `add` without `--password` generates one and prints it alone on the last line of stdout,
 * so scripts (and `sitekd fleet`) take it with `tail -n 1`. `export` prints Mosquitto's password_file or acl_file for
 * the same identities and policy.
 */
import { defineCommand, type Command, type CommandIo } from '../../shared/cli/command';
import type { Parsed } from '../../shared/cli/options';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { credentialsPath } from '../auth/credentials-file';
import { addCredential, listCredentials, mosquittoFiles, removeCredential } from '../auth/credentials';
import { CREDENTIAL_ACTIONS, credentialsSpec } from './specs';

type Args = Parsed<typeof credentialsSpec.options>;
type Action = (typeof CREDENTIAL_ACTIONS)[number];

/** `--topic a --topic b` → `--topic a,b`: repeated list options are joined before parsing. */
export function joinRepeated(argv: readonly string[], names: readonly string[]): string[] {
  const values = new Map<string, string[]>();
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const name = names.find((n) => arg === `--${n}` || arg.startsWith(`--${n}=`));
    if (name === undefined) {
      out.push(arg);
      continue;
    }
    const v = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
    if (v === undefined) {
      out.push(arg);
      continue;
    }
    if (!values.has(name)) values.set(name, []);
    values.get(name)?.push(v);
  }
  for (const [name, vs] of values) out.push(`--${name}`, vs.join(','));
  return out;
}

/** The action is the first argument; the options after it are parsed against credentialsSpec. */
export const credentialsCommand: Command = {
  spec: credentialsSpec,
  async run(argv: readonly string[], io: CommandIo): Promise<number> {
    const [action, ...rest] = argv;
    if (action === undefined || !(CREDENTIAL_ACTIONS as readonly string[]).includes(action)) {
      throw new SitekdError(ErrorCode.CLI_USAGE, `sitekd credentials: expected one of ${CREDENTIAL_ACTIONS.join(', ')} (got ${action === undefined ? 'nothing' : JSON.stringify(action)}); see sitekd credentials --help`);
    }
    return defineCommand(credentialsSpec, (a) => runAction(action as Action, a, io)).run(joinRepeated(rest, ['topic', 'read']), io);
  },
};

async function runAction(action: Action, a: Args, io: CommandIo): Promise<number> {
  const stateDir = a['state-dir'] ?? io.env['STATE_DIRECTORY'] ?? './sitekd-hub-state';
  const need = (v: string | undefined, flag: string): string => {
    if (v === undefined) throw new SitekdError(ErrorCode.CLI_USAGE, `sitekd credentials ${action} needs --${flag}`);
    return v;
  };
  switch (action) {
    case 'add': {
      const r = await addCredential(stateDir, {
        user: need(a.user, 'user'), role: need(a.role, 'role') as 'agent' | 'operator' | 'sensor', site: a.site, topics: a.topic ?? [], read: a.read ?? [],
        password: a.password, replace: a.replace,
      }, Date.now());
      const where = r.record.site !== undefined ? ` of site ${r.record.site}` : '';
      io.stdout.write(`sitekd credentials: ${r.replaced ? 'replaced' : 'added'} ${r.record.role} ${r.record.user}${where} in ${credentialsPath(stateDir)}\n`);
      if (r.generated) io.stdout.write(`${r.password}\n`);
      return 0;
    }
    case 'remove': {
      const user = need(a.user, 'user');
      if (!(await removeCredential(stateDir, user))) throw new SitekdError(ErrorCode.CREDENTIALS_INVALID, `no user ${user} in ${credentialsPath(stateDir)}`);
      io.stdout.write(`sitekd credentials: removed ${user}; its sessions on a running hub are closed\n`);
      return 0;
    }
    case 'list':
      for (const u of listCredentials(stateDir)) {
        const row = { user: u.user, role: u.role, ...(u.site !== undefined ? { site: u.site } : {}), topics: u.topics, read: u.read, createdAt: u.createdAt };
        io.stdout.write(a.json ? `${JSON.stringify(row)}\n` : `${u.user.padEnd(24)} ${u.role.padEnd(8)} ${(u.site ?? '-').padEnd(16)} ${[...u.topics, ...u.read.map((r) => `read:${r}`)].join(' ')}\n`);
      }
      return 0;
    case 'export': {
      const files = mosquittoFiles(stateDir);
      io.stdout.write(need(a.format, 'format') === 'passwd' ? files.passwd : files.acl);
      return 0;
    }
  }
}
