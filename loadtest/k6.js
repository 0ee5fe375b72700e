// k6 version of the realistic mix (k6 is not installable on this project's
// machines; the same scenario runs with loadtest/wrk.sh and loadtest/oha.sh,
// and loadtest/compare.sh measures /event on its own).
//   k6 run -e BASE=http://127.0.0.1:8080 -e VUS=64 -e DURATION=30s loadtest/k6.js
//
// Like a player, every ad answer is followed by its impression beacon:
// `GET event_url + "&e=impression"`, which the server answers 204 (README
// "Delivery"). `event_url` is built from the request's Host (or the
// server's --public-url), so BASE must be an address the server's event
// URLs point back to. Against a server run with `--tracking off` the
// answers carry no event_url and no beacon is sent.
import http from 'k6/http';
import { check } from 'k6';

const base = __ENV.BASE || 'http://127.0.0.1:8080';
const paths = open('./queries.txt').split('\n').filter((line) => line.length > 0);

export const options = {
  vus: Number(__ENV.VUS || 64),
  duration: __ENV.DURATION || '30s',
  thresholds: {
    // Only transport errors and 5xx fail: 404 (no ad) and 400 (the
    // malformed lines of the mix) are expected answers. A beacon that is
    // refused (403: its token did not verify) fails too.
    http_req_failed: ['rate<0.001'],
    'http_req_duration{name:ad_request}': ['p(99)<5'],
    'http_req_duration{name:event}': ['p(99)<5'],
    checks: ['rate>0.999'],
  },
};

http.setResponseCallback(http.expectedStatuses(200, 204, 400, 404));

export default function () {
  const path = paths[Math.floor(Math.random() * paths.length)];
  const res = http.get(base + path, { tags: { name: 'ad_request' } });
  check(res, {
    'status is 200, 400 or 404': (r) => r.status === 200 || r.status === 400 || r.status === 404,
    'json': (r) => (r.headers['Content-Type'] || '').startsWith('application/json'),
  });
  if (res.status !== 200) {
    return;
  }
  const eventUrl = res.json('event_url');
  if (!eventUrl) {
    return;
  }
  // The URL already has its query string (`?t=TOKEN`); the name follows.
  const beacon = http.get(`${eventUrl}&e=impression`, { tags: { name: 'event' } });
  check(beacon, {
    'impression beacon is 204': (r) => r.status === 204,
  });
}
