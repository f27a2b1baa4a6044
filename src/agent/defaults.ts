/** The agent's flag defaults and file names: no imports, so that the command tree can show them cheaply. */

export const DEFAULT_SYNC_TIMEOUT = '1m';
export const DEFAULT_CACHE_TTL = '0';
export const AGENT_SOCKET_NAME = 'agent.sock';
export const LB_ALGORITHMS = ['maglev', 'random'] as const;
/** A pod with this annotation (its value: a port) is served by a sample HTTP server of its node's agent. */
export const SAMPLE_SERVER_ANNOTATION = 'cmesh.io/sample-server';
