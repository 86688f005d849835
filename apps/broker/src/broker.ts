import { createServer, listen, type MillraceServer, requireBearerToken } from '@millrace/http';
import type { MetadataImage } from '@millrace/metadata';
import {
  AllocateProducerIdsResponseSchema,
  CreateInternalTopicResponseSchema,
  MillraceError,
  OFFSETS_TOPIC,
  Routes,
} from '@millrace/protocol';
import type { Logger } from 'pino';
import { ControllerClient } from './cluster/controller-client.js';
import { BrokerLifecycle } from './cluster/lifecycle.js';
import { MetadataFollower } from './cluster/metadata-follower.js';
import type { BrokerConfig } from './config.js';
import { GroupCoordinator } from './groups/coordinator.js';
import { LevelLogStore, LogManager } from './log/index.js';
import { BrokerMetrics } from './metrics.js';
import { ProducerIds } from './producers/producer-ids.js';
import { FetchSessionCache } from './replication/fetch-sessions.js';
import { ReplicaManager } from './replication/replica-manager.js';
import { registerAdminProxy } from './routes/admin.js';
import { registerClientRoutes } from './routes/client.js';
import { registerGroupRoutes } from './routes/groups.js';
import { registerProducerIdRoutes } from './routes/producer-ids.js';
import { registerReplicationRoutes } from './routes/replication.js';

export interface BrokerOptions {
  readonly config: BrokerConfig;
  readonly logger: Logger;
  /** Log requests at info level (tests and debugging). Default false. */
  readonly logRequests?: boolean;
}

/**
 * One broker: its partition logs, its membership (registration, heartbeats, controlled shutdown),
 * its copy of the metadata, the replicas it holds and their roles, and its HTTP/2 server (clients'
 * API, replication, the admin API relayed to the controllers, /health, /metrics).
 *
 * It serves clients once it has caught up with the metadata log; until then every client call is
 * NODE_NOT_READY (retriable).
 */
export class Broker {
  readonly config: BrokerConfig;
  readonly server: MillraceServer;
  readonly logs: LogManager;
  readonly manager: ReplicaManager;
  readonly lifecycle: BrokerLifecycle;
  readonly follower: MetadataFollower;
  readonly groups: GroupCoordinator;
  readonly #logger: Logger;
  readonly #controllers: ControllerClient;
  readonly #adminProxy: { close(): Promise<void> };
  #retentionTimer: NodeJS.Timeout | undefined;
  #caughtUp = false;
  #ready = false;
  #stopping: Promise<void> | undefined;

  private constructor(options: BrokerOptions, logs: LogManager) {
    const { config, logger } = options;
    this.config = config;
    this.#logger = logger;
    this.logs = logs;
    this.#controllers = new ControllerClient({ controllers: config.controllers, clusterSecret: config.clusterSecret });
    this.lifecycle = new BrokerLifecycle({
      brokerId: config.brokerId,
      clusterId: config.clusterId,
      advertised: config.advertised,
      rack: config.rack,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      controllers: this.#controllers,
      metadataOffset: () => this.manager.image?.offset ?? -1,
      onStateChange: (state, previous) => logger.info({ state, previous }, `broker is ${state}`),
      onError: (error, what) => logger.warn({ err: error }, `failed ${what}`),
    });
    this.server = createServer({
      logger,
      logRequests: options.logRequests ?? false,
      health: () => ({
        status: !this.#ready ? 'starting' : this.lifecycle.state === 'running' ? 'ok' : 'degraded',
        brokerId: config.brokerId,
        state: this.lifecycle.state,
        brokerEpoch: this.lifecycle.brokerEpoch ?? null,
        metadataOffset: Math.max(0, this.manager.image?.offset ?? 0),
        partitions: this.manager.partitions().length,
        leaderOf: this.manager.partitions().filter((p) => p.role === 'leader').length,
      }),
    });
    this.manager = new ReplicaManager({
      brokerId: config.brokerId,
      clusterSecret: config.clusterSecret,
      logs,
      controllers: this.#controllers,
      brokerEpoch: () => this.lifecycle.brokerEpoch,
      logger,
      fetcher: { maxWaitMs: config.replicaFetchWaitMaxMs },
      onIsrChange: (kind) => (kind === 'shrink' ? metrics.isrShrinks : metrics.isrExpands).inc(),
      onReplicated: (bytes) => metrics.replicationBytesIn.inc(bytes),
    });
    const metrics = new BrokerMetrics(this.server.metricsRegistry, this.manager, logs.tailCache);
    this.follower = new MetadataFollower({
      controllers: config.controllers,
      clusterSecret: config.clusterSecret,
      brokerId: config.brokerId,
      onChange: (image) => {
        // While catching up, an image is the cluster as it was at some past offset: a topic not
        // created yet would look deleted, an old leader current. Partitions follow only the
        // images from the first caught-up one on.
        if (!this.#caughtUp && !this.follower.caughtUp) return;
        this.#caughtUp = true;
        void this.manager.applyImage(image).then(() => {
          if (this.#ready) return;
          this.#ready = true;
          logger.info({ metadataOffset: image.offset }, 'caught up with the metadata log; serving clients');
        });
      },
      onError: (error) => logger.warn({ err: error }, 'metadata stream failed; trying the next controller'),
    });
    const readyImage = (): MetadataImage => {
      const image = this.manager.image;
      if (!this.#ready || image === undefined) {
        throw new MillraceError(
          'NODE_NOT_READY',
          `Broker ${config.brokerId} has not caught up with the metadata log yet.`,
        );
      }
      return image;
    };
    registerClientRoutes(this.server, {
      brokerId: config.brokerId,
      clusterId: config.clusterId,
      manager: this.manager,
      readyImage,
      metrics,
      auth: config.clientToken === null ? undefined : requireBearerToken(config.clientToken),
      maxRequestBytes: config.maxRequestBytes,
    });
    registerReplicationRoutes(this.server, {
      manager: this.manager,
      sessions: new FetchSessionCache(),
      clusterSecret: config.clusterSecret,
      readyImage,
      onFollowerOutsideIsr: (partition) => this.manager.checkIsr(partition),
      onBytesOut: (bytes) => metrics.replicationBytesOut.inc(bytes),
    });
    const producerIds = new ProducerIds(async () => {
      const brokerEpoch = this.lifecycle.brokerEpoch;
      if (brokerEpoch === undefined) {
        throw new MillraceError('NODE_NOT_READY', `Broker ${config.brokerId} is not registered yet.`);
      }
      const block = await this.#controllers.call(
        Routes.allocateProducerIds,
        { brokerId: config.brokerId, brokerEpoch },
        AllocateProducerIdsResponseSchema,
      );
      return { firstProducerId: block.firstProducerId, count: block.count };
    });
    registerProducerIdRoutes(this.server, {
      producerIds,
      auth: config.clientToken === null ? undefined : requireBearerToken(config.clientToken),
    });
    this.groups = new GroupCoordinator({
      brokerId: config.brokerId,
      manager: this.manager,
      readyImage,
      createOffsetsTopic: async () => {
        await this.#controllers.call(
          Routes.createInternalTopic,
          { name: OFFSETS_TOPIC },
          CreateInternalTopicResponseSchema,
        );
      },
      settings: {
        sessionTimeoutMs: config.groupSessionTimeoutMs,
        heartbeatIntervalMs: config.groupHeartbeatIntervalMs,
        maxSize: config.groupMaxSize,
      },
      logger,
    });
    registerGroupRoutes(this.server, {
      coordinator: this.groups,
      readyImage,
      auth: config.clientToken === null ? undefined : requireBearerToken(config.clientToken),
    });
    this.#adminProxy = registerAdminProxy(this.server, config.controllers);
  }

  /** Recovers the partition logs from `config.dataDir` (a damaged store fails here, with the reason). */
  static async open(options: BrokerOptions): Promise<Broker> {
    const { config, logger } = options;
    const store = await LevelLogStore.open(config.dataDir, {
      flushPolicy: config.logFlushPolicy,
      flushIntervalMs: config.logFlushIntervalMs,
      onError: (error, what) => logger.error({ err: error }, `partition log store: ${what} failed`),
    });
    const logs = await LogManager.open(store, {
      highWatermarkCheckpointIntervalMs: config.highWatermarkCheckpointIntervalMs,
      tailCacheBytes: config.tailCacheBytes,
      onError: (error, what) => logger.error({ err: error }, `${what} failed`),
    });
    logger.info({ dataDir: config.dataDir, partitions: logs.partitions().length }, 'partition logs recovered');
    return new Broker(options, logs);
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** Listens, follows the metadata log, registers and heartbeats. Resolves once registered. */
  async start(): Promise<{ host: string; port: number }> {
    const address = await listen(this.server, this.config.listen);
    this.follower.start();
    this.manager.start(1000);
    this.groups.start();
    this.#retentionTimer = setInterval(() => void this.applyRetention(), this.config.logRetentionCheckIntervalMs);
    this.#retentionTimer.unref();
    await this.lifecycle.start();
    this.#logger.info({ listen: address, advertised: this.config.advertised }, 'broker started');
    return address;
  }

  /** Applies retention.ms and retention.bytes of each partition's topic. */
  async applyRetention(): Promise<void> {
    const image = this.manager.image;
    if (image === undefined) return;
    try {
      const moved = await this.logs.applyRetention((log) => {
        if (image.topicByName(log.meta.topic) === undefined) return undefined;
        return {
          nowMs: Date.now(),
          retentionMs: Number(image.topicConfig(log.meta.topic, 'retention.ms')),
          retentionBytes: Number(image.topicConfig(log.meta.topic, 'retention.bytes')),
        };
      });
      for (const log of moved) {
        this.#logger.info(
          { partition: log.name, logStartOffset: log.logStartOffset.toString() },
          'retention deleted old batches',
        );
      }
    } catch (error) {
      this.#logger.error({ err: error }, 'retention failed');
    }
  }

  /**
   * Stops the broker. `controlled`: first asks the controller to move this broker's leaderships
   * away and waits for that (bounded by controlledShutdownTimeoutMs), still replicating meanwhile,
   * so that clients see a clean leader change rather than a dead broker.
   */
  stop(options: { controlled: boolean } = { controlled: true }): Promise<void> {
    this.#stopping ??= this.#stop(options.controlled);
    return this.#stopping;
  }

  async #stop(controlled: boolean): Promise<void> {
    clearInterval(this.#retentionTimer);
    if (controlled && this.lifecycle.brokerEpoch !== undefined) {
      const granted = await this.lifecycle.controlledShutdown(this.config.controlledShutdownTimeoutMs);
      this.#logger.info(
        { granted },
        granted ? 'leaderships moved away; stopping' : 'controlled shutdown timed out; stopping anyway',
      );
    } else {
      this.lifecycle.stop();
    }
    await this.groups.close();
    await this.server.close();
    await this.manager.stop();
    await this.follower.stop();
    await this.#adminProxy.close();
    await this.#controllers.close();
    await this.logs.close();
  }
}
