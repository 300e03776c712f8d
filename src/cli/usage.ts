/** Usage errors exit 2, like every well-behaved CLI. A module of its own: main.ts needs it before any command loads. */
export class UsageError extends Error {
  override name = 'UsageError';
}
