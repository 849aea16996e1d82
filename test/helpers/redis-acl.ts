/** ACL users for the credential tests: least privilege, as docs/operations.md (Credentials) lists it. */

/** What the server runs on Redis, in its Lua scripts included. */
export const LEAST_PRIVILEGE_COMMANDS = [
  "evalsha", "eval", "lrange", "llen", "ping", "info", "client|setname",
  // Watch's subscriber connection:
  "ssubscribe", "sunsubscribe",
  // Inside the scripts:
  "rpush", "ltrim", "pexpire", "zrangebyscore", "hdel", "zrem", "hget", "hset", "zadd", "exists", "del",
  "pttl", "lindex", "lpop", "hmget", "spublish", "lrem", "zrangebylex",
];

/** ACL SETUSER arguments: `user` with `password`, only the keys and Watch channels under `keyPrefix`, only `commands`. */
export function leastPrivilegeUser(user: string, password: string, keyPrefix: string, commands = LEAST_PRIVILEGE_COMMANDS): string[] {
  return [
    user, "on", `>${password}`, "resetkeys", `~${keyPrefix}:*`, `~{${keyPrefix}:*`, "resetchannels", `&{${keyPrefix}:*`,
    "-@all", ...commands.map((command) => `+${command}`),
  ];
}
