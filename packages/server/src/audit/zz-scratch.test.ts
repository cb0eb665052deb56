import { beforeAll, test } from 'vitest';
import { loadFhirDefinitions } from '../fhir/definitions.js';
import { computeSearchRows } from '../repository/search/index-values.js';
import { restAuditEvent, signInAuditEvent } from './audit-event.js';

beforeAll(() => loadFhirDefinitions());

test('scratch', () => {
  const observer = { display: 'http://localhost:8103/' };
  const mk = () => restAuditEvent(observer, {
    interaction: 'read',
    caller: { profile: 'ClientApplication/0b9f3b9e-8d1c-4f0e-9b7a-2c3d4e5f6a7b', clientId: '0b9f3b9e-8d1c-4f0e-9b7a-2c3d4e5f6a7b', ip: '127.0.0.1' },
    what: 'Patient/0b9f3b9e-8d1c-4f0e-9b7a-2c3d4e5f6a7c',
    status: 200,
    recorded: new Date().toISOString(),
  });
  const ev = { ...mk(), id: 'x', meta: { versionId: 'y', lastUpdated: new Date().toISOString(), project: 'p', author: { reference: 'system' } } };
  console.log(JSON.stringify(ev).length, JSON.stringify(ev));
  console.log(JSON.stringify(computeSearchRows(ev), null, 1));
  const s = signInAuditEvent(observer, { outcome: 'failure', method: 'password', ip: '1.2.3.4', email: 'a@b.c', reason: 'bad' }, new Date().toISOString());
  console.log(JSON.stringify(computeSearchRows(s)));
  const N = 20000;
  for (let k = 0; k < 3; k++) {
    let t = performance.now();
    const evs = [];
    for (let i = 0; i < N; i++) evs.push(mk());
    const tBuild = (performance.now() - t) / N;
    t = performance.now();
    for (const e of evs) JSON.stringify(e);
    const tJson = (performance.now() - t) / N;
    t = performance.now();
    for (const e of evs) computeSearchRows(e);
    const tRows = (performance.now() - t) / N;
    console.log(`build ${(tBuild*1000).toFixed(1)}us json ${(tJson*1000).toFixed(1)}us rows ${(tRows*1000).toFixed(1)}us`);
  }
});
