#!/usr/bin/env node
import { runMain } from '@millrace/node-kit';
import { pino } from 'pino';
import { Broker } from './broker.js';
import { BROKER_USAGE, loadBrokerConfig, wantsHelp } from './config.js';

/** Reads the configuration, recovers the logs, serves, and on SIGTERM or SIGINT stops after a controlled shutdown. */
async function main(argv: readonly string[]): Promise<void> {
  if (wantsHelp(argv)) {
    console.log(BROKER_USAGE);
    return;
  }
  const config = loadBrokerConfig(argv);
  const logger = pino({ level: config.logLevel, base: { node: `broker-${config.brokerId}` } });
  const broker = await Broker.open({ config, logger });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    try {
      await broker.stop({ controlled: true });
      logger.info('stopped');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'stopping failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', (signal) => void stop(signal));
  process.on('SIGINT', (signal) => void stop(signal));
  try {
    await broker.start();
  } catch (error) {
    await broker.stop({ controlled: false }).catch(() => undefined);
    throw error;
  }
}

runMain('millrace-broker', main);
