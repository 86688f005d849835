import { collectedGauge } from '@millrace/http';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { ReplicaManager } from './replication/replica-manager.js';

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A broker's Prometheus metrics, on its server's `/metrics`. */
export class BrokerMetrics {
  readonly bytesIn: Counter;
  readonly recordsIn: Counter;
  readonly bytesOut: Counter;
  readonly recordsOut: Counter;
  readonly replicationBytesIn: Counter;
  readonly replicationBytesOut: Counter;
  readonly failedProduces: Counter;
  readonly isrShrinks: Counter;
  readonly isrExpands: Counter;
  readonly produceLatency: Histogram;
  readonly fetchLatency: Histogram;

  constructor(registry: Registry, manager: ReplicaManager, tailCache: { readonly bytes: number }) {
    const registers = [registry];
    const counter = (name: string, help: string) => new Counter({ name, help, registers });
    this.bytesIn = counter(
      'millrace_broker_bytes_in_total',
      'Record batch bytes appended by producers to partitions led here',
    );
    this.recordsIn = counter(
      'millrace_broker_records_in_total',
      'Records appended by producers to partitions led here',
    );
    this.bytesOut = counter('millrace_broker_bytes_out_total', 'Record batch bytes sent to consumers');
    this.recordsOut = counter('millrace_broker_records_out_total', 'Records sent to consumers');
    this.replicationBytesIn = counter(
      'millrace_broker_replication_bytes_in_total',
      'Record batch bytes this broker appended as follower',
    );
    this.replicationBytesOut = counter(
      'millrace_broker_replication_bytes_out_total',
      'Record batch bytes sent to followers',
    );
    this.failedProduces = counter(
      'millrace_broker_failed_produce_partitions_total',
      'Partitions of produce requests answered with an error',
    );
    this.isrShrinks = counter(
      'millrace_broker_isr_shrinks_total',
      'ISR shrinks of partitions led here, as the controller accepted them',
    );
    this.isrExpands = counter(
      'millrace_broker_isr_expands_total',
      'ISR expansions of partitions led here, as the controller accepted them',
    );
    this.produceLatency = new Histogram({
      name: 'millrace_broker_produce_latency_seconds',
      help: 'Produce requests, from arrival to answer (with acks=all, until the ISR has the records)',
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.fetchLatency = new Histogram({
      name: 'millrace_broker_fetch_latency_seconds',
      help: 'Consumer fetch requests, from arrival to answer (long polls included)',
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    const gauge = (name: string, help: string, value: () => number) => collectedGauge(registry, name, help, value);
    gauge('millrace_broker_leader_partitions', 'Partitions this broker leads', () =>
      count(manager, (p) => p.role === 'leader'),
    );
    gauge(
      'millrace_broker_replica_partitions',
      'Partition replicas this broker holds',
      () => manager.partitions().length,
    );
    gauge(
      'millrace_broker_under_replicated_partitions',
      'Partitions led here whose ISR is smaller than their replica set',
      () => count(manager, (p) => p.underReplicated),
    );
    gauge('millrace_broker_offline_partitions', 'Partitions with a replica here that have no leader (offline)', () =>
      count(manager, (p) => p.role === 'offline'),
    );
    gauge(
      'millrace_broker_replica_lag_records',
      'Records this broker is behind its leaders, summed over the partitions it follows',
      () => Number(manager.fetchers().reduce((sum, f) => sum + f.lagRecords, 0n)),
    );
    gauge(
      'millrace_broker_follower_max_lag_records',
      'On partitions led here: the largest number of records any follower is behind the leader',
      () => {
        let max = 0n;
        for (const partition of manager.partitions()) {
          const state = partition.leaderState;
          if (state === undefined) continue;
          for (const follower of state.followers()) {
            const lag = follower.logEndOffset < 0n ? state.logEndOffset : state.logEndOffset - follower.logEndOffset;
            if (lag > max) max = lag;
          }
        }
        return Number(max);
      },
    );
    gauge(
      'millrace_broker_tail_cache_bytes',
      'Memory the tail cache keeps alive for the newest batches (tailCacheBytes bounds it)',
      () => tailCache.bytes,
    );
  }
}

function count(
  manager: ReplicaManager,
  predicate: (p: ReturnType<ReplicaManager['partitions']>[number]) => boolean,
): number {
  let n = 0;
  for (const partition of manager.partitions()) if (predicate(partition)) n++;
  return n;
}
