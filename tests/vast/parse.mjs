// A real player-side parser for tests/vast_player.rs: reads one VAST
// document from the file named on the command line (or stdin), parses it
// with @dailymotion/vast-client's VASTParser over @xmldom/xmldom, and prints
// what a player would use as JSON. Parser warnings (missing required
// elements or attributes) and XML errors are reported too.
import { readFileSync } from 'node:fs';
import { DOMParser } from '@xmldom/xmldom';
import { VASTParser } from '@dailymotion/vast-client';

const text = readFileSync(process.argv[2] ?? 0, 'utf8');
const xmlErrors = [];
const xml = new DOMParser({
  onError: (level, message) => xmlErrors.push(`${level}: ${message}`),
}).parseFromString(text, 'text/xml');

const parser = new VASTParser();
const warnings = [];
parser.on('VAST-warning', (w) => warnings.push(w.message ?? JSON.stringify(w)));

const response = await parser.parseVAST(xml);
const ads = response.ads.map((ad) => {
  const linear = ad.creatives.find((c) => c.type === 'linear');
  return {
    id: ad.id,
    title: ad.title,
    adServingId: ad.adServingId,
    system: ad.system,
    impressions: ad.impressionURLTemplates.map((i) => i.url),
    errors: ad.errorURLTemplates,
    creatives: ad.creatives.length,
    universalAdIds: linear ? linear.universalAdIds.map((u) => u.value) : [],
    duration: linear?.duration ?? null,
    mediaFiles: (linear?.mediaFiles ?? []).map((m) => ({
      url: m.fileURL,
      type: m.mimeType,
      width: m.width,
      height: m.height,
      delivery: m.deliveryType,
    })),
    tracking: linear?.trackingEvents ?? {},
    clickThrough: linear?.videoClickThroughURLTemplate?.url ?? null,
    clickTracking: (linear?.videoClickTrackingURLTemplates ?? []).map((c) => c.url),
  };
});

process.stdout.write(
  JSON.stringify({ version: response.version, adCount: ads.length, ads, warnings, xmlErrors }, null, 1) + '\n'
);
