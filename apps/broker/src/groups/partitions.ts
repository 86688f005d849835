/**
 * Sets of partitions, as the group coordinator passes them around: topic id → partition indexes.
 * Values are immutable; every function returns a new canonical value (topic ids ascending,
 * partitions ascending and unique, no empty topic), so two equal sets are equal with `toEqual` and
 * serialize to the same JSON.
 */
export type Partitions = ReadonlyMap<string, readonly number[]>;

export const NO_PARTITIONS: Partitions = new Map();

/** One partition as a string key: the topic id and the index, joined by a character no topic id holds. */
export type PartitionKey = string;
const SEPARATOR = '\u0000';

export function keyOf(topicId: string, partition: number): PartitionKey {
  return `${topicId}${SEPARATOR}${partition}`;
}

export function parseKey(key: PartitionKey): [topicId: string, partition: number] {
  const at = key.lastIndexOf(SEPARATOR);
  return [key.slice(0, at), Number(key.slice(at + 1))];
}

export function keysOf(partitions: Partitions): Set<PartitionKey> {
  const keys = new Set<PartitionKey>();
  for (const [topicId, list] of partitions) for (const partition of list) keys.add(keyOf(topicId, partition));
  return keys;
}

export function fromKeys(keys: Iterable<PartitionKey>): Partitions {
  const byTopic = new Map<string, number[]>();
  for (const key of keys) {
    const [topicId, partition] = parseKey(key);
    const list = byTopic.get(topicId) ?? [];
    list.push(partition);
    byTopic.set(topicId, list);
  }
  return canonical(byTopic);
}

/** The canonical form of any topic → partitions map (sorted, unique, no empty topic). */
export function canonical(partitions: ReadonlyMap<string, readonly number[]>): Partitions {
  const result = new Map<string, number[]>();
  for (const topicId of [...partitions.keys()].sort()) {
    const list = [...new Set(partitions.get(topicId))].sort((a, b) => a - b);
    if (list.length > 0) result.set(topicId, list);
  }
  return result;
}

export function union(a: Partitions, b: Partitions): Partitions {
  return fromKeys([...keysOf(a), ...keysOf(b)]);
}

export function minus(a: Partitions, b: Partitions): Partitions {
  const remove = keysOf(b);
  return fromKeys([...keysOf(a)].filter((key) => !remove.has(key)));
}

export function intersect(a: Partitions, b: Partitions): Partitions {
  const keep = keysOf(b);
  return fromKeys([...keysOf(a)].filter((key) => keep.has(key)));
}

export function isEmpty(partitions: Partitions): boolean {
  for (const list of partitions.values()) if (list.length > 0) return false;
  return true;
}

export function overlaps(a: Partitions, b: Partitions): boolean {
  return !isEmpty(intersect(a, b));
}

export function samePartitions(a: Partitions, b: Partitions): boolean {
  const left = keysOf(a);
  const right = keysOf(b);
  return left.size === right.size && [...left].every((key) => right.has(key));
}

export function countOf(partitions: Partitions): number {
  let count = 0;
  for (const list of partitions.values()) count += list.length;
  return count;
}

/** As JSON travels and is stored: `[{ topicId, partitions }]`, canonical order. */
export interface TopicPartitionsJson {
  readonly topicId: string;
  readonly partitions: readonly number[];
}

export function toJson(partitions: Partitions): TopicPartitionsJson[] {
  return [...canonical(partitions)].map(([topicId, list]) => ({ topicId, partitions: [...list] }));
}

export function fromJson(json: readonly TopicPartitionsJson[]): Partitions {
  const byTopic = new Map<string, number[]>();
  for (const { topicId, partitions } of json) byTopic.set(topicId, [...(byTopic.get(topicId) ?? []), ...partitions]);
  return canonical(byTopic);
}
