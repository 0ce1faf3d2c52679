/**
 * What runs inside the sandbox for a terminal: a byte relay between a non-TTY exec's stdio and
 * the persistent shell's dtach socket. The backend frames keystrokes and resizes as dtach packets
 * itself (dtach-packets.ts); the relay only moves bytes, so the shell's output crosses one
 * pseudo-terminal (the shell's own) instead of two.
 *
 * Why a Perl relay and not `nc -U` (the image has netcat-openbsd, which can): dtach's master reads
 * one 10-byte packet per read(), so a write that ends mid-packet desynchronises it for good, and
 * the engine delivers stdin in whatever pieces it likes. The relay forwards whole packets only,
 * in writes small enough for the kernel to queue whole. Input and output are two processes, so
 * keystrokes never wait behind output the relay is still writing (dtach's master takes them
 * between the chunks it sends).
 *
 * Output: after a read of 512 bytes or more, the relay waits 1 ms and sends what gathered with
 * it. A program that writes a line per write() (stdio does, on a tty) would otherwise cross every
 * hop out of the sandbox in pieces of a line or two, each costing every process on the way; this
 * doubled bulk output (docs/bench.md). Keystroke echoes are smaller and go at once.
 *
 * Lifetime without any pkill: the backend ends the exec's stdin to detach (or its connection
 * drops, which does the same); the input side then shuts the socket for writing, the master
 * drops the client, and the output side sees the end and exits. When the shell exits, the
 * master closes the socket and the exec ends, which the backend reads as "shell exited".
 *
 * Perl is perl-base, part of every Debian system; it starts in a few milliseconds. The relay
 * names itself "berth-relay" (and "berth-relay-input"), so `pgrep -x berth-relay` counts the
 * attachments to a sandbox's shell.
 */

/** The socket of the persistent shell inside each sandbox (on the sandbox's /run tmpfs). */
export const SHELL_SOCKET = '/run/berth/shell.sock';

/**
 * Starts the persistent shell, a login bash under a dtach master named "berth-shell" (the
 * sandbox normally starts it at boot; this is the fallback when it is missing or died). A shell
 * started from a background job inherits SIGINT and SIGQUIT ignored, and then so does every
 * command typed into it (Ctrl-C would stop nothing): they are reset first. No single quotes, so
 * callers can wrap it in them.
 */
export function shellStartCommand(socket = SHELL_SOCKET): string {
  return `cd /root && exec env --default-signal=INT,QUIT bash -c "exec -a berth-shell dtach -n ${socket} -E -z bash -l"`;
}

// Arguments: the socket, then the command that starts the shell when nothing answers there.
const RELAY = String.raw`
use strict;
use warnings;
use Socket;
my ($path, @start) = @ARGV;
$0 = 'berth-relay';
my $packet = 10;
# Attach clients of backends from before this relay (dtach clients in TTY execs, "berth-term-*")
# outlive their connection; one that still drains output keeps dtach writing to it while this
# client is paused, and this client would lose what it missed. There is no such client in a
# sandbox started since.
if (opendir(my $proc, '/proc')) {
  for my $pid (grep { /^\d+$/ } readdir $proc) {
    open(my $cmdline, '<', "/proc/$pid/cmdline") or next;
    my $argv0 = <$cmdline> // '';
    kill 'HUP', $pid if $argv0 =~ /^berth-term-/;
  }
}
sub connected {
  socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die "berth-relay: socket: $!\n";
  return connect($s, pack_sockaddr_un($path)) ? $s : undef;
}
my $s = connected();
unless ($s) {
  unlink $path;
  system(@start) == 0 or die "berth-relay: could not start the shell\n";
  $s = connected() or die "berth-relay: $path: $!\n";
}
# Only now: the shell started above must not inherit an ignored SIGPIPE.
$SIG{PIPE} = 'IGNORE';
binmode STDIN;
binmode STDOUT;
my $input = fork() // die "berth-relay: fork: $!\n";
if ($input == 0) {
  $0 = 'berth-relay-input';
  close STDOUT;
  my $pending = '';
  while (sysread(STDIN, $pending, 65536, length $pending)) {
    my $whole = length($pending) - length($pending) % $packet;
    my $at = 0;
    while ($at < $whole) {
      my $size = $whole - $at > 4000 ? 4000 : $whole - $at;
      my $sent = syswrite($s, $pending, $size, $at);
      exit 1 unless defined $sent;
      $at += $sent;
    }
    substr($pending, 0, $whole, '');
  }
  shutdown($s, 1);
  exit 0;
}
my $ready = '';
vec($ready, fileno($s), 1) = 1;
my $open = 1;
OUTPUT: while ($open) {
  my $read = sysread($s, my $out, 65536);
  last unless $read;
  if ($read >= 512) {
    select(undef, undef, undef, 0.001);
    while (length($out) < 262144 && select(my $r = $ready, undef, undef, 0) > 0) {
      my $more = sysread($s, $out, 65536, length $out);
      unless ($more) { $open = 0; last; }
    }
  }
  my $at = 0;
  while ($at < length $out) {
    my $sent = syswrite(STDOUT, $out, length($out) - $at, $at);
    last OUTPUT unless defined $sent;
    $at += $sent;
  }
}
kill 'TERM', $input;
`;

/**
 * The exec's command, to run inside the sandbox's inner world: the driver puts SANDBOX_ENTER
 * (recipe.ts) in front of it, as of every exec. `$0` and the rest are the relay's program and
 * arguments, out of the way of any quoting.
 */
export function relayCommand(socket = SHELL_SOCKET): string[] {
  return [
    'bash',
    '-c',
    `mkdir -p ${socket.replace(/\/[^/]*$/, '')} && exec perl -e "$0" "$@"`,
    RELAY,
    socket,
    'bash',
    '-c',
    shellStartCommand(socket),
  ];
}
