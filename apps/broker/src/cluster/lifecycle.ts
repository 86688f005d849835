import { randomUUID } from 'node:crypto';
import {
  BrokerHeartbeatResponseSchema,
  BrokerRegistrationResponseSchema,
  type Endpoint,
  isMillraceError,
  Routes,
} from '@millrace/protocol';
import type { ControllerClient } from './controller-client.js';

export type BrokerState = 'starting' | 'fenced' | 'running' | 'shutting-down' | 'stopped';

export interface LifecycleOptions {
  readonly brokerId: number;
  readonly clusterId: string;
  readonly advertised: Endpoint;
  readonly rack: string | null;
  readonly heartbeatIntervalMs: number;
  readonly controllers: ControllerClient;
  /** The offset of the last metadata batch this broker has applied. */
  readonly metadataOffset: () => number;
  readonly onStateChange?: (state: BrokerState, previous: BrokerState) => void;
  readonly onError?: (error: unknown, what: string) => void;
}

/**
 * A broker's membership: it registers at every start (a new incarnation, so a new broker epoch),
 * then heartbeats to the active controller with the metadata offset it has applied. The
 * controller unfences it once it has caught up and fences it if the heartbeats stop; the broker
 * serves clients only while unfenced ('running'). A heartbeat refused for a stale epoch (the
 * controller lost or replaced this registration) leads to a new registration.
 *
 * Controlled shutdown (Kafka's): the broker asks to shut down in its heartbeats, the controller
 * moves its leaderships to other ISR members, and answers `shouldShutDown` once it leads nothing.
 */
export class BrokerLifecycle {
  readonly incarnationId = randomUUID();
  #state: BrokerState = 'starting';
  #brokerEpoch: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #beating = false;
  #wantShutDown = false;
  #shutdownGranted: (() => void) | undefined;
  readonly #options: LifecycleOptions;

  constructor(options: LifecycleOptions) {
    this.#options = options;
  }

  get state(): BrokerState {
    return this.#state;
  }

  get brokerEpoch(): number | undefined {
    return this.#brokerEpoch;
  }

  /** Registers (retrying until a controller accepts) and starts heartbeating. */
  async start(): Promise<void> {
    await this.#register();
    this.#timer = setInterval(() => void this.#heartbeat(), this.#options.heartbeatIntervalMs);
    await this.#heartbeat();
  }

  /**
   * Asks the controller to move this broker's leaderships away and waits, bounded, until it says
   * the broker may stop. Resolves true when granted, false on timeout (the broker then stops
   * anyway; the controller fences it when its session expires).
   */
  async controlledShutdown(timeoutMs = 10_000): Promise<boolean> {
    if (this.#state === 'stopped') return true;
    this.#wantShutDown = true;
    this.#setState('shutting-down');
    const granted = new Promise<boolean>((resolve) => {
      this.#shutdownGranted = () => resolve(true);
      setTimeout(() => resolve(false), timeoutMs).unref();
    });
    void this.#heartbeat();
    const result = await granted;
    this.stop();
    return result;
  }

  /** Stops heartbeating at once (the controller fences the broker when its session expires). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#setState('stopped');
  }

  async #register(): Promise<void> {
    for (;;) {
      try {
        const { brokerEpoch } = await this.#options.controllers.call(
          Routes.brokerRegister,
          {
            clusterId: this.#options.clusterId,
            brokerId: this.#options.brokerId,
            incarnationId: this.incarnationId,
            endpoint: this.#options.advertised,
            rack: this.#options.rack,
          },
          BrokerRegistrationResponseSchema,
        );
        this.#brokerEpoch = brokerEpoch;
        this.#setState('fenced');
        return;
      } catch (error) {
        if (this.#state === 'stopped') return;
        // A previous process with this id still has a live session: it expires within the controller's timeout.
        this.#options.onError?.(error, 'registering');
        if (isMillraceError(error, 'INCONSISTENT_CLUSTER_ID')) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }

  async #heartbeat(): Promise<void> {
    if (this.#beating || this.#state === 'stopped' || this.#brokerEpoch === undefined) return;
    this.#beating = true;
    try {
      const answer = await this.#options.controllers.call(
        Routes.brokerHeartbeat,
        {
          brokerId: this.#options.brokerId,
          brokerEpoch: this.#brokerEpoch,
          metadataOffset: Math.max(0, this.#options.metadataOffset()),
          wantFence: false,
          wantShutDown: this.#wantShutDown,
        },
        BrokerHeartbeatResponseSchema,
        Math.max(1000, this.#options.heartbeatIntervalMs * 4),
      );
      if (this.#wantShutDown) {
        if (answer.shouldShutDown) this.#shutdownGranted?.();
        return;
      }
      this.#setState(answer.isFenced ? 'fenced' : 'running');
    } catch (error) {
      this.#options.onError?.(error, 'heartbeating');
      if (isMillraceError(error, 'STALE_BROKER_EPOCH') || isMillraceError(error, 'BROKER_ID_NOT_REGISTERED')) {
        this.#setState('fenced');
        this.#brokerEpoch = undefined;
        await this.#register();
      }
    } finally {
      this.#beating = false;
    }
  }

  #setState(state: BrokerState): void {
    if (state === this.#state) return;
    if (this.#state === 'stopped') return;
    if (this.#state === 'shutting-down' && state !== 'stopped') return;
    const previous = this.#state;
    this.#state = state;
    this.#options.onStateChange?.(state, previous);
  }
}
