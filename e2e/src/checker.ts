/**
 * The checker: compares every record a producer was told was written (topic, partition, offset and
 * the record's identity) with what the partition logs hold when read back from offset 0, and says
 * what went wrong, record by record, by offset. Pure: no I/O, no clock; the load generator records
 * the acknowledgements and `readLog` reads the logs.
 *
 * A record's identity is `{ stream, seq }`: `stream` names one producer run, `seq` counts the records
 * it sent in the order of its `send` calls. Records of one stream sent to one partition must sit at
 * increasing offsets (calls are appended in the order they are made), so a smaller `seq` after a
 * larger one in a partition's log is a reordering.
 */

export interface RecordId {
  readonly stream: string;
  readonly seq: number;
}

/** A record the producer acknowledged: it was told `offset`. */
export interface AckedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly id: RecordId;
}

/** A record read back from a partition's log; `id` is null for a record no stream wrote (foreign). */
export interface LogRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly id: RecordId | null;
}

export type Problem =
  /** Acknowledged at `offset`, and nowhere in the log; `found` is what the log holds at `offset`. */
  | {
      readonly kind: 'lost';
      readonly topic: string;
      readonly partition: number;
      readonly offset: bigint;
      readonly id: RecordId;
      readonly found: RecordId | null | 'nothing';
    }
  /** Acknowledged at `offset`, but the log holds it elsewhere (`foundAt`) and `found` at `offset`. */
  | {
      readonly kind: 'moved';
      readonly topic: string;
      readonly partition: number;
      readonly offset: bigint;
      readonly id: RecordId;
      readonly foundAt: readonly bigint[];
      readonly found: RecordId | null | 'nothing';
    }
  /** The same record more than once in the log (acknowledged or not): at every offset listed. */
  | {
      readonly kind: 'duplicated';
      readonly topic: string;
      readonly partition: number;
      readonly offset: bigint;
      readonly id: RecordId;
      readonly offsets: readonly bigint[];
    }
  /** At `offset` a record of a stream that was sent before the one at `after.offset`, which precedes it. */
  | {
      readonly kind: 'reordered';
      readonly topic: string;
      readonly partition: number;
      readonly offset: bigint;
      readonly id: RecordId;
      readonly after: { readonly offset: bigint; readonly id: RecordId };
    }
  /** Two different records acknowledged at the same offset. */
  | {
      readonly kind: 'conflicting-acks';
      readonly topic: string;
      readonly partition: number;
      readonly offset: bigint;
      readonly ids: readonly RecordId[];
    }
  /** The log skips offsets: nothing between `offset` (exclusive of the last one read) and `next`. */
  | {
      readonly kind: 'gap';
      readonly topic: string;
      readonly partition: number;
      readonly offset: bigint;
      readonly next: bigint;
    };

export interface CheckReport {
  /** True when there is no problem. */
  readonly ok: boolean;
  readonly acknowledged: number;
  /** Records read from the logs. */
  readonly read: number;
  /** Records in the logs that were sent but never acknowledged (a failed or unanswered send): allowed. */
  readonly unacknowledgedInLog: number;
  /** Records in the logs that no stream wrote. */
  readonly foreign: number;
  /** Sorted by topic, partition, offset, then kind. */
  readonly problems: readonly Problem[];
}

const key = (id: RecordId) => `${id.stream}/${id.seq}`;
const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/**
 * Checks `acknowledged` against `log`. `log` must be what was read from each partition, from its
 * first offset up to at least the last acknowledged offset, in any order (it is sorted here).
 * Offsets are expected to be dense from the first one read: a skipped offset is a `gap`.
 */
export function check(acknowledged: readonly AckedRecord[], log: readonly LogRecord[]): CheckReport {
  const problems: Problem[] = [];

  // Each partition's log, by offset, and where each identity sits in it.
  const logs = new Map<string, LogRecord[]>();
  for (const record of log) {
    const k = tpKey(record.topic, record.partition);
    const list = logs.get(k) ?? [];
    list.push(record);
    logs.set(k, list);
  }
  const atOffset = new Map<string, Map<bigint, LogRecord>>();
  const offsetsOf = new Map<string, Map<string, bigint[]>>();
  let foreign = 0;
  for (const [k, list] of logs) {
    list.sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
    const byOffset = new Map<bigint, LogRecord>();
    const byId = new Map<string, bigint[]>();
    let previous: LogRecord | undefined;
    // Per stream, its previous record in this log, for the reordering check: any order other than
    // increasing seq has a record with a smaller seq right after one of the same stream.
    const last = new Map<string, { offset: bigint; id: RecordId }>();
    for (const record of list) {
      if (previous !== undefined && record.offset === previous.offset) {
        throw new Error(`the log read holds offset ${record.offset} of ${record.topic}-${record.partition} twice`);
      }
      if (previous !== undefined && record.offset !== previous.offset + 1n) {
        problems.push({
          kind: 'gap',
          topic: record.topic,
          partition: record.partition,
          offset: previous.offset,
          next: record.offset,
        });
      }
      previous = record;
      byOffset.set(record.offset, record);
      if (record.id === null) {
        foreign++;
        continue;
      }
      const offsets = byId.get(key(record.id)) ?? [];
      offsets.push(record.offset);
      byId.set(key(record.id), offsets);
      // A second copy is reported as duplicated, not also as out of order.
      if (offsets.length > 1) continue;
      const before = last.get(record.id.stream);
      if (before !== undefined && record.id.seq < before.id.seq) {
        problems.push({
          kind: 'reordered',
          topic: record.topic,
          partition: record.partition,
          offset: record.offset,
          id: record.id,
          after: before,
        });
      }
      last.set(record.id.stream, { offset: record.offset, id: record.id });
    }
    for (const offsets of byId.values()) {
      if (offsets.length < 2) continue;
      const first = byOffset.get(offsets[0] as bigint) as LogRecord;
      problems.push({
        kind: 'duplicated',
        topic: first.topic,
        partition: first.partition,
        offset: first.offset,
        id: first.id as RecordId,
        offsets,
      });
    }
    atOffset.set(k, byOffset);
    offsetsOf.set(k, byId);
  }

  // Each acknowledgement against the log.
  const ackedAt = new Map<string, AckedRecord[]>();
  const ackedIds = new Set<string>();
  for (const ack of acknowledged) {
    const k = tpKey(ack.topic, ack.partition);
    ackedIds.add(`${k}\u0000${key(ack.id)}`);
    const at = `${k}\u0000${ack.offset}`;
    const same = ackedAt.get(at) ?? [];
    same.push(ack);
    ackedAt.set(at, same);
    const there = atOffset.get(k)?.get(ack.offset);
    if (there?.id != null && key(there.id) === key(ack.id)) continue;
    const found: RecordId | null | 'nothing' = there === undefined ? 'nothing' : there.id;
    const foundAt = offsetsOf.get(k)?.get(key(ack.id)) ?? [];
    const where = { topic: ack.topic, partition: ack.partition, offset: ack.offset, id: ack.id, found };
    problems.push(foundAt.length === 0 ? { kind: 'lost', ...where } : { kind: 'moved', ...where, foundAt });
  }
  for (const acks of ackedAt.values()) {
    const ids = [...new Map(acks.map((a) => [key(a.id), a.id])).values()];
    if (ids.length < 2) continue;
    const first = acks[0] as AckedRecord;
    problems.push({
      kind: 'conflicting-acks',
      topic: first.topic,
      partition: first.partition,
      offset: first.offset,
      ids,
    });
  }

  let unacknowledgedInLog = 0;
  for (const record of log) {
    if (record.id !== null && !ackedIds.has(`${tpKey(record.topic, record.partition)}\u0000${key(record.id)}`))
      unacknowledgedInLog++;
  }

  const order: Record<Problem['kind'], number> = {
    lost: 0,
    moved: 1,
    'conflicting-acks': 2,
    duplicated: 3,
    reordered: 4,
    gap: 5,
  };
  problems.sort(
    (a, b) =>
      a.topic.localeCompare(b.topic) ||
      a.partition - b.partition ||
      (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0) ||
      order[a.kind] - order[b.kind],
  );
  return {
    ok: problems.length === 0,
    acknowledged: acknowledged.length,
    read: log.length,
    unacknowledgedInLog,
    foreign,
    problems,
  };
}

const show = (id: RecordId | null | 'nothing') =>
  id === 'nothing' ? 'nothing' : id === null ? 'a foreign record' : key(id);

/** One line per problem, `topic-partition@offset kind: …`, after a summary line; at most `limit` problems. */
export function formatReport(report: CheckReport, limit = 50): string {
  const counts = new Map<string, number>();
  for (const problem of report.problems) counts.set(problem.kind, (counts.get(problem.kind) ?? 0) + 1);
  const summary = [
    `${report.ok ? 'OK' : 'FAILED'}: ${report.acknowledged} acknowledged, ${report.read} read`,
    `${report.unacknowledgedInLog} unacknowledged in the log, ${report.foreign} foreign`,
    ...['lost', 'moved', 'conflicting-acks', 'duplicated', 'reordered', 'gap'].map((k) => `${counts.get(k) ?? 0} ${k}`),
  ].join(', ');
  const lines = report.problems.slice(0, limit).map((problem) => {
    const at = `${problem.topic}-${problem.partition}@${problem.offset}`;
    switch (problem.kind) {
      case 'lost':
        return `${at} lost: ${key(problem.id)} acknowledged here, not in the log (the log has ${show(problem.found)} here)`;
      case 'moved':
        return `${at} moved: ${key(problem.id)} acknowledged here, in the log at ${problem.foundAt.join(', ')} (the log has ${show(problem.found)} here)`;
      case 'duplicated':
        return `${at} duplicated: ${key(problem.id)} at ${problem.offsets.join(', ')}`;
      case 'reordered':
        return `${at} reordered: ${key(problem.id)} after ${key(problem.after.id)} at ${problem.after.offset}`;
      case 'conflicting-acks':
        return `${at} conflicting acks: ${problem.ids.map(key).join(', ')} were each told this offset`;
      case 'gap':
        return `${at} gap: the next offset in the log is ${problem.next}`;
    }
    return '';
  });
  const more = report.problems.length > limit ? [`… and ${report.problems.length - limit} more`] : [];
  return [summary, ...lines, ...more].join('\n');
}
