/**
 * The monitor's own saturation, apart from etcd's health: how long rounds
 * wait for a slot of the global limiter (--max-concurrent-rounds), how many
 * rounds fell due while they waited (skipped: never counted as failed
 * inspections), and the slots in use. EtcdMonitorSaturated alerts on it.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RoundPressure, SlotStats } from '../engine/limiter.ts';

/** From "immediate" to "a whole default interval". */
const WAIT_BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class PressureMetrics implements RoundPressure {
  readonly #wait = new Histogram({
    name: 'etcd_monitor_round_queue_wait_seconds',
    help: 'Time inspection rounds and membership reads waited for a slot of the global limiter before they started (not charged to their deadline).',
    buckets: WAIT_BUCKETS,
    registers: [],
  });
  readonly #skipped = new Counter({
    name: 'etcd_monitor_rounds_skipped_total',
    help: 'Rounds that fell due while the previous one still waited for a slot: skipped because the process is saturated, not failed inspections.',
    labelNames: ['feature'],
    registers: [],
  });

  waited(feature: string, seconds: number, skipped: number): void {
    this.#wait.observe(seconds);
    // Every feature's series exists from its first round on (0 when nothing was skipped): the
    // alert's rate() needs a series to start from, and an absent series reads as "not checked".
    this.#skipped.inc({ feature }, skipped);
  }

  /** Adds the families to the process registry, the slot gauges read from `slots` at scrape time. */
  register(registry: Registry, slots: () => SlotStats): void {
    registry.registerMetric(this.#wait);
    registry.registerMetric(this.#skipped);
    const gauge = (name: string, help: string, read: (s: SlotStats) => number): void => {
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read(slots()));
        },
      });
    };
    gauge(
      'etcd_monitor_round_slots',
      'Inspection rounds that may run at once (--max-concurrent-rounds).',
      (s) => s.max,
    );
    gauge(
      'etcd_monitor_rounds_running',
      'Inspection rounds and membership reads running now.',
      (s) => s.active,
    );
    gauge(
      'etcd_monitor_rounds_waiting',
      'Inspection rounds and membership reads waiting for a slot now.',
      (s) => s.waiting,
    );
  }
}
