// The SVG chart: well-formed XML, every series drawn where its data says, every text escaped.
import t from 'tap';
import { escapeXml, formatClock, niceTicks, renderChart, timeTicks, type ChartSpec } from '../bench/svg-chart.js';

/**
 * A small well-formedness check: one root element, balanced tags, attributes quoted, no raw "<" or stray "&" in
 * text or attribute values. Returns what is wrong (nothing, for good XML) and the element names in document order.
 */
function checkXml(xml: string): { problems: string[]; elements: string[] } {
  const problems: string[] = [];
  const body = xml.replace(/^<\?xml [^?]*\?>\s*/, '');
  const stack: string[] = [];
  const elements: string[] = [];
  let roots = 0;
  const entity = /&(?:amp|lt|gt|quot|#\d+);/g;
  for (const m of body.matchAll(/<[^>]*>|[^<]+/g)) {
    const tok = m[0];
    if (!tok.startsWith('<')) {
      if (stack.length === 0 && tok.trim() !== '') problems.push(`text outside the root: ${JSON.stringify(tok.slice(0, 40))}`);
      if (tok.replace(entity, '').includes('&')) problems.push(`unescaped & in text ${JSON.stringify(tok.slice(0, 60))}`);
      continue;
    }
    const close = /^<\/([A-Za-z][\w:-]*)\s*>$/.exec(tok);
    if (close !== null) {
      const open = stack.pop();
      if (open !== close[1]) problems.push(`</${close[1]}> closes <${open}>`);
      continue;
    }
    const open = /^<([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>$/.exec(tok);
    if (open === null) {
      problems.push(`malformed tag ${JSON.stringify(tok.slice(0, 80))}`);
      continue;
    }
    const [, name, attrs, selfClosing] = open as unknown as [string, string, string, string];
    for (const a of attrs.matchAll(/="([^"]*)"/g)) {
      const v = (a[1] as string).replace(entity, '');
      if (v.includes('&') || v.includes('<')) problems.push(`unescaped value in ${JSON.stringify(tok.slice(0, 80))}`);
    }
    if (stack.length === 0) roots++;
    elements.push(name);
    if (selfClosing === '') stack.push(name);
  }
  if (stack.length > 0) problems.push(`unclosed: ${stack.join(', ')}`);
  if (roots !== 1) problems.push(`${roots} root elements`);
  if (elements[0] !== 'svg') problems.push(`root is ${elements[0]}`);
  return { problems, elements };
}

const nasty = 'a<b & "c" \'d\'';

const spec: ChartSpec = {
  title: `soak <script>alert(1)</script> & ${nasty}`,
  subtitle: 'url http://x/?a=1&b=2',
  xMax: 10,
  panels: [
    {
      title: 'latency',
      yLabel: 'latency (ms)',
      series: [
        { name: 'POST (3)', style: 'dots', points: [{ x: 5, y: 50 }, { x: 1, y: 100 }, { x: 9, y: 10 }] },
        { name: nasty, style: 'dots', color: '#123456', points: [{ x: 2, y: 20 }] },
        { name: 'errors (2)', style: 'crosses', points: [{ x: 3, y: 30 }, { x: 4, y: 40 }] },
      ],
    },
    {
      title: 'memory',
      yLabel: 'RSS (MiB)',
      series: [{ name: 'RSS', style: 'line', points: [{ x: 2, y: 80 }, { x: 0, y: 70 }, { x: 10, y: 90 }] }],
    },
  ],
};

t.test('a two-panel chart is well-formed and draws every series', async (t) => {
  const svg = renderChart(spec);
  const { problems, elements } = checkXml(svg);
  t.same(problems, [], 'well-formed');
  t.equal(elements.filter((e) => e === 'circle').length, 4 + 2 + 0, 'a dot per point plus a legend dot per dot series');
  t.equal(elements.filter((e) => e === 'polyline').length, 1);
  t.equal(elements.filter((e) => e === 'g').length, 2 + 4, 'two panels, four series');
  for (const name of ['POST (3)', 'errors (2)', 'RSS', 'latency (ms)', 'RSS (MiB)']) {
    t.ok(svg.includes(`>${name}</text>`), `labels ${name}`);
  }
  // xMax 10 → ticks every 2 s up to 10; plot from x=80 to x=830. Latency ticks 0..100; panel from y=95 to y=355.
  t.ok(svg.includes('<circle cx="455" cy="225" r="2.5" stroke="none"/>'), 'POST point (5 s, 50 ms) placed exactly');
  t.ok(svg.includes('<circle cx="80" cy="95" r="2.5" stroke="none"/>') === false, 'no point at the corner');
  t.ok(svg.includes('<circle cx="155" cy="95" r="2.5" stroke="none"/>'), 'POST point (1 s, 100 ms) at the top');
  // The line is drawn in time order whatever order the points came in. RSS ticks 0..100, panel y=425..685.
  t.match(svg, /<polyline [^>]*points="80,503 230,477 830,451"\/>/);
  for (const label of ['0:00', '0:02', '0:10']) t.ok(svg.includes(`>${label}</text>`), `x tick ${label}`);
});

t.test('text is escaped everywhere', async (t) => {
  const svg = renderChart(spec);
  t.notOk(svg.includes('<script>'), 'no markup from the title');
  t.ok(svg.includes('soak &lt;script&gt;alert(1)&lt;/script&gt; &amp; a&lt;b &amp; &quot;c&quot; &#39;d&#39;'));
  t.ok(svg.includes('data-name="a&lt;b &amp; &quot;c&quot; &#39;d&#39;"'), 'attribute values too');
  t.ok(svg.includes('http://x/?a=1&amp;b=2'));
  t.equal(escapeXml('x\u0001y\u0007z'), 'xyz', 'control characters XML forbids are dropped');
});

t.test('an empty chart is still well-formed', async (t) => {
  const svg = renderChart({ title: 'nothing', panels: [{ title: 'p', yLabel: 'y', series: [] }] });
  const { problems, elements } = checkXml(svg);
  t.same(problems, [], 'well-formed');
  t.notOk(elements.includes('circle'));
  t.ok(svg.includes('>nothing</text>'));
});

t.test('the checker itself catches broken XML', async (t) => {
  t.not(checkXml('<svg><g></svg>').problems.length, 0, 'unbalanced');
  t.not(checkXml('<svg><text>a & b</text></svg>').problems.length, 0, 'raw &');
  t.not(checkXml('<svg><g a="x&y"/></svg>').problems.length, 0, 'raw & in an attribute');
  t.not(checkXml('<svg><g a=x/></svg>').problems.length, 0, 'unquoted attribute');
  t.not(checkXml('<svg/><svg/>').problems.length, 0, 'two roots');
  t.same(checkXml('<?xml version="1.0"?>\n<svg a="&lt;"><g/>x &amp; y</svg>').problems, []);
});

t.test('ticks', async (t) => {
  t.same(niceTicks(87), [0, 20, 40, 60, 80, 100]);
  t.same(niceTicks(1000), [0, 200, 400, 600, 800, 1000]);
  t.same(niceTicks(3.2), [0, 1, 2, 3, 4]);
  t.same(niceTicks(0), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  t.same(niceTicks(0.7), [0, 0.2, 0.4, 0.6, 0.8]);
  t.same(timeTicks(3), [0, 1, 2, 3]);
  t.same(timeTicks(2.2), [0, 1, 2, 3]);
  t.same(timeTicks(600), [0, 120, 240, 360, 480, 600]);
  t.same(timeTicks(3600), [0, 600, 1200, 1800, 2400, 3000, 3600]);
  t.equal(formatClock(0), '0:00');
  t.equal(formatClock(75), '1:15');
  t.equal(formatClock(3725), '1:02:05');
});
