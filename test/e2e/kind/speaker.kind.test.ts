// The speaker scenarios on kind, through the same suite as the lab (scenarios/speaker-suite.ts);
// only the cluster driver differs. Started by run.sh, which makes the cluster and installs the
// chart; never part of `npm test` (vitest.config.ts at the top excludes this folder).
import { afterAll, beforeAll, describe } from 'vitest';
import type { ClusterDriver } from '../../../lab/cluster-driver.js';
import { advertise, api, pool } from '../../../lab/speaker-scenarios.js';
import { speakerScenarios } from '../scenarios/speaker-suite.js';
import { kindDriver } from './kind-driver.js';

const range = process.env.HERALDLB_KIND_POOL ?? '';
let d: ClusterDriver | undefined;

describe('speaker on kind', () => {
  beforeAll(async () => {
    if (!range) throw new Error('HERALDLB_KIND_POOL is not set: run test/e2e/kind/run.sh');
    d = await kindDriver();
    await pool(api(d), 'e2e', [range]);
    await advertise(api(d), 'e2e', { ipAddressPools: ['e2e'] });
  }, 120_000);

  afterAll(async () => {
    // run.sh deletes the cluster.
  });

  const [, last] = range.split('-');
  speakerScenarios({
    driver: () => {
      if (!d) throw new Error('kind driver not ready');
      return d;
    },
    pool: 'e2e',
    foreignIp: last ?? '',
  });
});
