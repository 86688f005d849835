export { type AuthHook, requireBearerToken, requireClusterSecret } from './auth.js';
export {
  clientDefaults,
  createH2Client,
  type FrameRequest,
  type H2ClientOptions,
  type HttpMethod,
  type JsonRequest,
  requestFrame,
  requestJson,
  sendFrame,
} from './client.js';
export { createFrameSession, type FrameSession } from './frame-session.js';
export type { HotAnswer, HotHandler, HotRequest, HotRouteOptions } from './hot-routes.js';
export { type BoundAddress, type Listenable, type ListenOptions, listen } from './listen.js';
export { collectedGauge } from './metrics.js';
export {
  createServer,
  type HealthReport,
  type HealthStatus,
  type MillraceServer,
  type ServerOptions,
  serverDefaults,
} from './server.js';
export { frameBody, parseBody, parseParams, parseQuery } from './validation.js';
