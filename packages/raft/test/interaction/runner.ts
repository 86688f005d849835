import { isRaftError } from '../../src/errors.js';
import { Cluster, id, type NodeOptions, text } from '../helpers/cluster.js';
import { formatStatus } from '../helpers/format.js';

/**
 * Runs an interaction script and returns its transcript: each command echoed after `> `, followed
 * by what happened, one action per line. Commands:
 *
 *   cluster <n> [prevote=bool] [checkquorum=bool] [election=ticks] [heartbeat=ticks]
 *               [chunk=bytes] [maxsize=bytes] [inflight=msgs]     must come first
 *   campaign <id>              propose <id> <data>          read-index <id> <context>
 *   transfer <id> <to>         tick <id> [xN]               tick-all [xN]
 *   run-ticks <n>              (n times: tick every node, then stabilize)
 *   process-ready [id...]      deliver-msgs [id | a->b]     stabilize
 *   drop <a>-><b>              isolate <id>                 partition <ids> <ids>…   heal
 *   compact <id> <index> [keep]   (snapshot at index, compact keeping `keep` entries)
 *   restart <id>               status [id...]               log <id...>
 *   # comment                  (echoed)
 */
export function runScript(script: string): string {
  const out: string[] = [];
  let cluster: Cluster | undefined;
  const need = (): Cluster => {
    if (cluster === undefined) throw new Error('the script must start with `cluster <n>`');
    return cluster;
  };
  const flush = () => {
    if (cluster !== undefined) {
      out.push(...cluster.lines);
      cluster.lines.length = 0;
    }
  };

  for (const raw of script.split('\n')) {
    const line = raw.trim();
    if (line === '') {
      out.push('');
      continue;
    }
    if (line.startsWith('#')) {
      out.push(line);
      continue;
    }
    out.push(`> ${line}`);
    const [cmd, ...args] = line.split(/\s+/);
    const num = (i: number) => {
      const n = Number(args[i]);
      if (!Number.isSafeInteger(n)) throw new Error(`${line}: argument ${i + 1} must be an integer`);
      return n;
    };
    const times = () => {
      const x = args.find((a) => /^x\d+$/.test(a));
      return x === undefined ? 1 : Number(x.slice(1));
    };
    try {
      switch (cmd) {
        case 'cluster': {
          const options: NodeOptions = {
            preVote: true,
            checkQuorum: true,
            electionTimeoutTicks: 10,
            heartbeatTimeoutTicks: 1,
          };
          const set = options as Record<string, unknown>;
          for (const kv of args.slice(1)) {
            const [k, v] = kv.split('=');
            const names: Record<string, string> = {
              prevote: 'preVote',
              checkquorum: 'checkQuorum',
              election: 'electionTimeoutTicks',
              heartbeat: 'heartbeatTimeoutTicks',
              chunk: 'snapshotChunkBytes',
              maxsize: 'maxSizePerMsgBytes',
              inflight: 'maxInflightMsgs',
            };
            const name = names[k ?? ''];
            if (name === undefined || v === undefined) throw new Error(`unknown option ${kv}`);
            set[name] = v === 'true' ? true : v === 'false' ? false : Number(v);
          }
          cluster = Cluster.of(num(0), options);
          cluster.trace = true;
          break;
        }
        case 'campaign':
          need().campaign(num(0));
          break;
        case 'propose':
          need().propose(num(0), args.slice(1).join(' '));
          break;
        case 'read-index':
          need()
            .get(num(0))
            .node.readIndex(new TextEncoder().encode(args[1] ?? ''));
          break;
        case 'transfer':
          need()
            .get(num(0))
            .node.transferLeadership(id(num(1)));
          break;
        case 'tick':
          need().tick(num(0), times());
          break;
        case 'tick-all':
          need().tickAll(times());
          break;
        case 'run-ticks': {
          const c = need();
          for (let i = 0; i < num(0); i++) {
            c.tickAll();
            c.stabilize();
          }
          break;
        }
        case 'process-ready': {
          const c = need();
          const ids = args.length === 0 ? [...c.nodes.keys()] : args.map(Number);
          for (const n of ids) c.processReady(n);
          break;
        }
        case 'deliver-msgs': {
          const c = need();
          const arg = args[0];
          if (arg === undefined) c.deliver();
          else if (arg.includes('->')) {
            const [a, b] = arg.split('->').map(Number);
            c.deliver((m) => m.from === a && m.to === b);
          } else c.deliver((m) => m.to === Number(arg));
          break;
        }
        case 'stabilize':
          need().stabilize();
          break;
        case 'drop': {
          const [a, b] = (args[0] ?? '').split('->').map(Number);
          need().drop(a!, b!);
          break;
        }
        case 'isolate':
          need().isolate(num(0));
          break;
        case 'partition':
          need().partition(...args.map((g) => g.split(',').map(Number)));
          break;
        case 'heal':
          need().heal();
          break;
        case 'compact': {
          const c = need();
          const index = num(1);
          const keep = args[2] === undefined ? 0 : num(2);
          c.snapshotAndCompact(num(0), index, index - keep, `snapshot-of-state-at-${index}`);
          break;
        }
        case 'restart':
          need().restart(num(0));
          break;
        case 'status': {
          const c = need();
          const ids = args.length === 0 ? [...c.nodes.keys()] : args.map(Number);
          for (const n of ids) out.push(...formatStatus(c.get(n).node.status()));
          break;
        }
        case 'log': {
          const c = need();
          for (const n of args.map(Number)) {
            const node = c.get(n);
            const applied = c.appliedData(n);
            out.push(`${n}: terms=[${c.logTerms(n).join(' ')}] applied=[${applied.join(' ')}]`);
            if (node.restored !== undefined)
              out.push(`${n}: restored snapshot ${node.restored.metadata.index} "${text(node.restored.data)}"`);
          }
          break;
        }
        default:
          throw new Error(`unknown command ${cmd}`);
      }
    } catch (error) {
      if (!isRaftError(error)) throw error;
      out.push(`  error: ${error.code}`);
    }
    flush();
  }
  return `${out.join('\n').trimEnd()}\n`;
}
