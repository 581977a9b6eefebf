// The lab's ClusterDriver for e2e tests (the driver itself lives in lab/, shared with bench/).
import { type ClusterDriver, labDriverAt } from '../../lab/cluster-driver.js';
import { labDir } from './lab.js';

export type { ClusterDriver, NodeFault } from '../../lab/cluster-driver.js';

export function labDriver(nodeCount: number): ClusterDriver {
  return labDriverAt(labDir, nodeCount);
}
