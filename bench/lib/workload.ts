/** What every scenario sends, so all generators and baselines do the same work. */

/** One message of 200 bytes of content, as the issue specifies. */
export const MESSAGE_CONTENT = "x".repeat(200);

/** The window every benchmark server keeps: max_turns 500 (1000 messages), so GetHistory(1000) has something to read. */
export const BENCH_MAX_TURNS = 500;
