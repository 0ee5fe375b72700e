// k6 version of the realistic mix (k6 is not installable on this project's
// machines; the same scenario runs with loadtest/wrk.sh and loadtest/oha.sh).
//   k6 run -e BASE=http://127.0.0.1:8080 -e VUS=64 -e DURATION=30s loadtest/k6.js
import http from 'k6/http';
import { check } from 'k6';

const base = __ENV.BASE || 'http://127.0.0.1:8080';
const paths = open('./queries.txt').split('\n').filter((line) => line.length > 0);

export const options = {
  vus: Number(__ENV.VUS || 64),
  duration: __ENV.DURATION || '30s',
  thresholds: {
    // Only transport errors and 5xx fail: 404 (no ad) and 400 (the
    // malformed lines of the mix) are expected answers.
    http_req_failed: ['rate<0.001'],
    http_req_duration: ['p(99)<5'],
    checks: ['rate>0.999'],
  },
};

http.setResponseCallback(http.expectedStatuses(200, 400, 404));

export default function () {
  const path = paths[Math.floor(Math.random() * paths.length)];
  const res = http.get(base + path);
  check(res, {
    'status is 200, 400 or 404': (r) => r.status === 200 || r.status === 400 || r.status === 404,
    'json': (r) => (r.headers['Content-Type'] || '').startsWith('application/json'),
  });
}
