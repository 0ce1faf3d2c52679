/**
 * The seccomp profile every sandbox runs under.
 *
 * The inner dockerd needs mount, unshare, pivot_root, setns and friends, so Docker's default
 * allowlist (which ties those to CAP_SYS_ADMIN anyway) buys little; instead we allow by default
 * and deny the calls that reach outside the sandbox's namespaces: the kernel's module loader,
 * clocks, swap, reboot, raw I/O ports, the kernel log, and handle-based opens that can walk out
 * of a mount namespace. Most are also blocked by the missing capability; the profile is the
 * second wall.
 *
 * Keyrings are not namespaced, so keyctl and friends are refused too, with ENOSYS rather than
 * EPERM: runc inside the sandbox treats ENOSYS as "no keyring support" and carries on, where
 * EPERM would make every inner `docker run` fail.
 */
const EPERM = 1;
const ENOSYS = 38;

export const deniedSyscalls = [
  'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module',
  'clock_settime', 'clock_adjtime', 'settimeofday', 'adjtimex', 'stime',
  'acct', 'swapon', 'swapoff', 'reboot', 'iopl', 'ioperm',
  'open_by_handle_at', 'name_to_handle_at', 'lookup_dcookie', 'nfsservctl', 'uselib',
  'quotactl', 'syslog', 'perf_event_open', 'userfaultfd', 'vm86', 'vm86old',
] as const;

export const keyringSyscalls = ['keyctl', 'add_key', 'request_key'] as const;

export function sandboxSeccompProfile(): string {
  return JSON.stringify({
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [
      { names: [...deniedSyscalls], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
      { names: [...keyringSyscalls], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    ],
  });
}
