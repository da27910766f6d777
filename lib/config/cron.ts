/**
 * The values an EventBridge Scheduler cron field selects from 0..max: a comma-separated list of "*", "n" and
 * ranges "a-b", each optionally stepped by "/s" ("a/s" runs from a to max); undefined when it is none of these.
 */
export function cronFieldValues(field: string, max: number): number[] | undefined {
  const values = new Set<number>();
  for (const part of field.split(',')) {
    const match = /^(?:(\*)|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!match) return undefined;
    const [, every, from, to, step] = match;
    const first = every ? 0 : Number(from);
    const last = every || (to === undefined && step !== undefined) ? max : Number(to ?? from);
    const by = Number(step ?? 1);
    if (first > last || last > max || by < 1) return undefined;
    for (let value = first; value <= last; value += by) values.add(value);
  }
  return [...values].sort((a, b) => a - b);
}

/** The times of day, in minutes after midnight, that a cron's minutes and hours fields fire at. */
export function cronTimesOfDay(cron: string): number[] | undefined {
  const [minutesField = '', hoursField = ''] = cron.trim().split(/\s+/);
  const minutes = cronFieldValues(minutesField, 59);
  const hours = cronFieldValues(hoursField, 23);
  if (!minutes || !hours) return undefined;
  return hours.flatMap((hour) => minutes.map((minute) => hour * 60 + minute));
}
