/**
 * The HTTP/2 flow-control settings both ends of a Millrace connection announce: the receive window
 * per stream, the whole connection's, and the largest frame a peer may send. With HTTP/2's 64 KiB
 * defaults a connection's large requests and answers wait on window updates (a bare server
 * received 64 KiB bodies at 2.7 times the CPU per byte in a first measurement). Node's own client
 * still sends DATA frames of at most 16 KiB, whatever frame size is allowed.
 */
export const STREAM_WINDOW_BYTES = 8 * 1024 * 1024;
export const CONNECTION_WINDOW_BYTES = 32 * 1024 * 1024;
export const FRAME_BYTES = 1024 * 1024;
