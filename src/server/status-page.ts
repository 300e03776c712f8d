import type { ClusterSnapshot } from '../engine/snapshot.ts';
import { collectWhy } from '../engine/why.ts';
import { memberIdHex } from '../etcd/types.ts';
import { findingFigure, findingThreshold } from '../findings.ts';
import { keyspaceView } from '../features/request/report.ts';
import { humanBytes } from '../units.ts';

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function bytes(v: bigint | undefined): string {
  return v === undefined ? '' : humanBytes(v);
}

/** Each problem of a round in words (what, where, what to do), under its summary. */
function problemList(problems: readonly string[]): string {
  return problems.length === 0 ? '' : `<ul>${problems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul>`;
}

/** One cluster's part of the status page: its errors, members, inspections and why. */
export function clusterSection(c: ClusterSnapshot): string {
  const members = (c.members?.members ?? [])
    .map(
      (m) =>
        `<tr><td>${esc(m.endpoint)}</td><td>${m.id === undefined ? '' : memberIdHex(m.id)}</td><td>${esc(m.name)}</td><td>${m.role}</td><td>${esc(m.version ?? '')}</td><td>${bytes(m.dbSize)}</td><td>${m.raftIndex?.toString() ?? ''}</td><td class="err">${esc(m.error ?? m.memberErrors.join(', '))}</td></tr>`,
    )
    .join('');
  const features = Object.values(c.features)
    .map(
      (f) =>
        `<tr><td>${esc(f.name)}</td><td class="${f.last !== undefined && (!f.last.ok || f.last.problems.length > 0) ? 'err' : ''}">${esc(f.last?.summary ?? 'pending')}${problemList(f.last?.ok === true ? f.last.problems : [])}</td><td>${f.runs}</td><td>${f.failures}</td></tr>`,
    )
    .join('');
  const why = collectWhy(c)
    .map(
      (w) =>
        `<tr><td>${esc(w.member)}</td><td class="${w.severity === 'critical' ? 'err' : ''}">${esc(w.cause)}</td><td>${esc(findingFigure(w))}</td><td>${esc(findingThreshold(w) ?? '')}</td><td>${esc(w.action)}</td><td>${esc(w.feature)}</td></tr>`,
    )
    .join('');
  const whySection =
    why === ''
      ? ''
      : `<h3>Why</h3><table class="why"><tr><th>member</th><th>cause</th><th>figure</th><th>threshold</th><th>what to do</th><th>inspection</th></tr>${why}</table>`;
  const keyspace = keyspaceSection(c.features['request']?.last?.details);
  const errors = [...c.configErrors, ...(c.members?.error !== undefined ? [c.members.error] : [])];
  return `<h2>${esc(c.id)}</h2>${errors.map((e) => `<p class="err">${esc(e)}</p>`).join('')}
<table><tr><th>endpoint</th><th>id</th><th>name</th><th>role</th><th>version</th><th>db size</th><th>raft index</th><th>error</th></tr>${members}</table>
<table><tr><th>inspection</th><th>last result</th><th>runs</th><th>failures</th></tr>${features}</table>${whySection}${keyspace}`;
}

/** The request inspection's keyspace sizes, when it keeps them: resources by bytes, the largest keys. */
function keyspaceSection(details: unknown): string {
  const view = keyspaceView(details);
  if (view === undefined) return '';
  const resources = view.resources
    .map(
      (r) =>
        `<tr><td>${esc(r.resourceName)}</td><td>${r.keys}</td><td>${humanBytes(r.bytes ?? 0)}</td><td>${humanBytes(Math.round(r.averageBytes ?? 0))}</td><td>${r.largest == null ? 'unknown until re-scan' : `${humanBytes(r.largest.bytes)} ${esc(r.largest.key)}`}</td></tr>`,
    )
    .join('');
  const top = view.topKeys
    .map(
      (k) => `<tr><td>${esc(k.key)}</td><td>${humanBytes(k.bytes)}</td><td>${esc(k.resourceName)}</td></tr>`,
    )
    .join('');
  const exact = view.complete ? '' : ' <span class="err">(not exact: a re-scan is due)</span>';
  return `<h3>Keyspace: ${humanBytes(view.totalBytes)}${exact}</h3>
<table><tr><th>resource</th><th>keys</th><th>bytes</th><th>average</th><th>largest object</th></tr>${resources}</table>
<table><tr><th>largest keys${view.topKeysExact ? '' : ' (the rest unknown until a re-scan)'}</th><th>bytes</th><th>resource</th></tr>${top}</table>`;
}

/** The order of the page: by cluster id, so a cluster stays where the reader saw it. */
export function byId(clusters: ClusterSnapshot[]): ClusterSnapshot[] {
  return clusters.sort((a, b) => a.id.localeCompare(b.id));
}

/** The page around the clusters' sections (clusterSection, in byId order). */
export function statusPageOf(sections: readonly string[]): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>etcd-monitor</title><meta http-equiv="refresh" content="5">
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}.err{color:#b00}.why th{background:#fee}</style></head>
<body><h1>etcd-monitor</h1><p><a href="/metrics">/metrics</a> · <a href="/api/v1/clusters">/api/v1/clusters</a> · <a href="/readyz">/readyz</a></p>
${sections.join('\n') || '<p>No clusters configured.</p>'}</body></html>`;
}

/** A page a person can read at a glance; everything on it comes from the snapshot store. */
export function statusPage(clusters: readonly ClusterSnapshot[]): string {
  return statusPageOf(byId([...clusters]).map(clusterSection));
}
