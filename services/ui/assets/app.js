// The dashboard's only script (served by the dashboard): live run progress by polling, the reward curve as SVG,
// and the pause/resume/cancel buttons. Plain browser JavaScript, no build step, no external assets.
'use strict';
/* global document, fetch, setInterval */

function text(id, value) {
  const el = document.getElementById(id);
  if (el) el.textContent = value;
}

function drawCurve(svg, points) {
  const w = 560,
    h = 200,
    pad = 34;
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const ns = 'http://www.w3.org/2000/svg';
  const add = (name, attrs, content) => {
    const el = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (content !== undefined) el.textContent = content;
    svg.appendChild(el);
    return el;
  };
  add('line', { x1: pad, y1: h - pad, x2: w - 8, y2: h - pad, stroke: '#888' });
  add('line', { x1: pad, y1: 8, x2: pad, y2: h - pad, stroke: '#888' });
  if (points.length === 0) {
    add('text', { x: w / 2 - 60, y: h / 2, fill: '#888' }, 'no rewards yet');
    return;
  }
  const xs = points.map((p) => p.step),
    ys = points.map((p) => p.reward);
  const x0 = Math.min(...xs),
    x1 = Math.max(...xs, x0 + 1);
  let y0 = Math.min(...ys),
    y1 = Math.max(...ys);
  if (y1 - y0 < 1e-9) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const sx = (x) => pad + ((x - x0) / (x1 - x0)) * (w - pad - 12);
  const sy = (y) => h - pad - ((y - y0) / (y1 - y0)) * (h - pad - 12);
  add('polyline', {
    points: points.map((p) => `${sx(p.step)},${sy(p.reward)}`).join(' '),
    fill: 'none',
    stroke: '#0072b2',
    'stroke-width': 2,
  });
  for (const p of points) add('circle', { cx: sx(p.step), cy: sy(p.reward), r: 2.5, fill: '#0072b2' });
  add('text', { x: 2, y: 14, 'font-size': 11 }, y1.toFixed(3));
  add('text', { x: 2, y: h - pad, 'font-size': 11 }, y0.toFixed(3));
  add('text', { x: pad, y: h - 10, 'font-size': 11 }, `step ${x0}`);
  add('text', { x: w - 70, y: h - 10, 'font-size': 11 }, `step ${x1}`);
}

async function pollRun(root) {
  const runId = root.dataset.run;
  try {
    const res = await fetch(`/api/run?id=${encodeURIComponent(runId)}`, { credentials: 'same-origin' });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.statusText);
    const p = body.progress;
    text('run-status', p ? p.status : body.status);
    text('run-phase', p ? p.pipeline.phase : '-');
    const s = p && p.stage;
    text('run-stage', s ? `stage-${s.stage}` : '-');
    text('run-step', s ? String(s.step) : '-');
    text('run-max-steps', s ? String(s.maxSteps) : '-');
    text('run-state', s ? s.state : '-');
    const last = s && s.recentRewards.length ? s.recentRewards[s.recentRewards.length - 1].reward.toFixed(4) : '-';
    text('run-reward', last);
    text('run-eta', s && s.etaSeconds !== null ? `${s.etaSeconds}s` : '-');
    text('run-liveness', body.liveness || '-');
    const bar = document.getElementById('run-bar');
    if (bar && s) bar.style.width = `${Math.round((100 * s.step) / Math.max(1, s.maxSteps))}%`;
    const svg = document.getElementById('reward-curve');
    if (svg) drawCurve(svg, body.curve || []);
    text('run-error', '');
  } catch (err) {
    text('run-error', `progress unavailable: ${err.message}`);
  }
}

async function sendAction(root, action) {
  const runId = root.dataset.run;
  text('action-msg', `${action}…`);
  try {
    const res = await fetch(`/api/run/${action}?id=${encodeURIComponent(runId)}`, { method: 'POST', credentials: 'same-origin' });
    const body = await res.json();
    text('action-msg', res.ok ? body.message : `failed: ${body.error}`);
  } catch (err) {
    text('action-msg', `failed: ${err.message}`);
  }
  await pollRun(root);
}

document.addEventListener('DOMContentLoaded', () => {
  const root = document.getElementById('run');
  if (!root) return;
  for (const action of ['pause', 'resume', 'cancel']) {
    const button = document.getElementById(`btn-${action}`);
    if (button) button.addEventListener('click', () => void sendAction(root, action));
  }
  void pollRun(root);
  setInterval(() => void pollRun(root), Number(root.dataset.pollMs || 1000));
});
