import { Agent } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

interface ClusterLike {
  server?: string;
  proxyUrl?: string;
}
type AgentFactory = (cluster: ClusterLike | null, options: Record<string, unknown>) => unknown;

/**
 * client-node 1.4 builds a fresh https.Agent for every request (KubeConfig.createAgent), so
 * every call pays a TCP + TLS handshake; at thousands of writes that is most of the cost.
 * This makes one KubeConfig reuse a single keep-alive agent per API server. Credentials in
 * the agent are the TLS ones, fixed per KubeConfig; bearer tokens travel in headers, so
 * token refresh still works.
 */
export function withKeepAlive(kc: KubeConfig, maxSockets = 64, maxFreeSockets = 256): KubeConfig {
  const target = kc as unknown as { createAgent: AgentFactory };
  const original = target.createAgent.bind(kc);
  const agents = new Map<string, Agent>(); // server URL -> shared agent
  target.createAgent = (cluster, options) => {
    const server = cluster?.server;
    if (!server?.startsWith('https:') || cluster?.proxyUrl) return original(cluster, options);
    let agent = agents.get(server);
    if (!agent) {
      agent = new Agent({ ...options, keepAlive: true, maxSockets, maxFreeSockets });
      agents.set(server, agent);
    }
    return agent;
  };
  return kc;
}
