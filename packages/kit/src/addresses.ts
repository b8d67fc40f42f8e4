import { isIPv6 } from "node:net";

/**
 * The key a client address is counted under by per-address limits: an IPv4 address as it is
 * (also when IPv4-mapped, `::ffff:a.b.c.d`), an IPv6 address by its /64. One host is routinely
 * given a whole /64 and can pick a fresh address from it for every request, so counting single
 * IPv6 addresses would give it 2^64 allowances.
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const groupsOf = (part: string) =>
    part === "" ? [] : part.split(":").flatMap((group) => (group.includes(".") ? ["0", "0"] : [group]));
  const [head = "", tail] = ip.split("::");
  const left = groupsOf(head);
  const right = tail === undefined ? [] : groupsOf(tail);
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(":")}::/64`;
}
