#!/usr/bin/perl
# run-tests.pl — `make test`: runs the unit test binaries and the TAP scripts, each with a
# deadline, against one shared private PostgreSQL, and ends with "N passed, M failed".
use strict;
use warnings;

use Cwd qw(abs_path getcwd);
use Fcntl qw(:flock);
use File::Path qw(make_path remove_tree);
use File::Spec;
use File::Temp qw(tempfile);
use FindBin;
use Getopt::Long qw(GetOptions);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG setpgid _exit);
use TAP::Parser;
use Time::HiRes qw(time sleep);

my $usage = <<'EOF';
usage: tests/run-tests.pl [--verbose] [PROGRAM...]

With no PROGRAM, runs every unit test binary $BUILD/tests/unit/test_* (with
CMOCKA_MESSAGE_OUTPUT=TAP), then every tests/itest/*.t and tests/interop/*.t; with
PROGRAMs, runs just those. Each program must print TAP on stdout.

Before the first .t it starts one private PostgreSQL for the whole run (deploy/pg.sh, data
in $BUILD/test-pg, a free port) and exports PCHAT_TEST_PGHOST, PCHAT_TEST_PGPORT and
PCHAT_TEST_PGDATA; it stops it at the end, also on Ctrl-C. While another run holds
$BUILD/test-pg, it uses $BUILD/test-pg.PID instead and removes it at the end.

A program that crashes, exits non-zero without failing a test, times out, prints no plan,
or runs another number of tests than it planned counts at least one failure. The last line
is "N passed, M failed", counting test points over all programs; the exit status is 0 only
when M is 0.

  -v, --verbose   show every program's TAP as it runs
Environment: BUILD (build), PCHAT_TEST_TIMEOUT seconds per program (600).
EOF

my $verbose = $ENV{PCHAT_TEST_VERBOSE} ? 1 : 0;
GetOptions('verbose|v' => \$verbose, 'help|h' => sub { print $usage; exit 0 })
    or do { print STDERR $usage; exit 2 };

my $timeout = $ENV{PCHAT_TEST_TIMEOUT} // 600;
die "run-tests.pl: PCHAT_TEST_TIMEOUT must be a number of seconds (got '$timeout')\n"
    unless $timeout =~ /^\d+$/ && $timeout > 0;
my $STOP_GRACE = 3;          # seconds between SIGTERM and SIGKILL for a process group
my $STDERR_TAIL = 25;        # lines of a failing program's stderr shown

# Programs named on the command line are relative to where we were started; everything
# else is relative to the repository root, where we run.
my $start_dir = getcwd();
my $root = abs_path("$FindBin::Bin/..");
my @programs = map { File::Spec->rel2abs($_, $start_dir) } @ARGV;
chdir $root or die "run-tests.pl: cannot enter $root: $!\n";
my $build = File::Spec->rel2abs($ENV{BUILD} // 'build', $root);
if (!@programs) {
    push @programs, sort grep { -f && -x } glob("$build/tests/unit/test_*");
    push @programs, map { "$root/$_" } sort(glob('tests/itest/*.t')), sort(glob('tests/interop/*.t'));
}
# Shown (and run) relative to the root when inside it; "./" keeps exec from searching PATH.
for (@programs) {
    my $relative = File::Spec->abs2rel($_, $root);
    next if $relative =~ m{^\.\./};
    $_ = $relative =~ m{/} ? $relative : "./$relative";
}

$ENV{BUILD} = $build;
$ENV{CMOCKA_MESSAGE_OUTPUT} = 'TAP';
$ENV{PCHAT_TEST_TIMEOUT} = $timeout;
$| = 1;

# --- the shared PostgreSQL --------------------------------------------------------------------
my $pg_dir = "$build/test-pg";
my ($pg_port, $pg_state) = (undef, 'none');   # none | up | failed
my ($pg_lock, $pg_dir_is_ours_only) = (undef, 0);

sub capture {    # run a command, return (exit status, combined output)
    my @cmd = @_;
    my ($fh, $file) = tempfile(UNLINK => 1);
    my $pid = fork // die "run-tests.pl: fork: $!\n";
    if ($pid == 0) {
        open STDOUT, '>&', $fh or _exit(127);
        open STDERR, '>&', $fh or _exit(127);
        open STDIN, '<', '/dev/null';
        exec { $cmd[0] } @cmd or do { print STDERR "cannot run $cmd[0]: $!\n"; _exit(127) };
    }
    waitpid($pid, 0);
    my $status = $?;
    seek $fh, 0, 0;
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($status, $out);
}

sub free_port {
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                     Listen => 1, ReuseAddr => 1)
        or die "run-tests.pl: cannot find a free port: $!\n";
    my $port = $sock->sockport;
    close $sock;
    return $port;
}

sub pg_start {
    # Two runs in one tree must not stop each other's cluster: the lock says whose it is.
    make_path($build);
    open $pg_lock, '>>', "$build/test-pg.lock" or die "run-tests.pl: cannot open $build/test-pg.lock: $!\n";
    if (!flock($pg_lock, LOCK_EX | LOCK_NB)) {
        $pg_dir = "$build/test-pg.$$";
        $pg_dir_is_ours_only = 1;
        print "run-tests.pl: another run is using $build/test-pg; this one uses $pg_dir\n";
    }
    $pg_port = free_port();
    my $log = '';
    for my $step (['stop'], ['init'], ['start']) {
        my ($status, $out) = capture('deploy/pg.sh', @$step, $pg_dir, $pg_port);
        $log .= $out;
        if ($status != 0) {
            $pg_state = 'failed';
            print "run-tests.pl: the shared PostgreSQL did not start; every .t fails\n",
                  indent("deploy/pg.sh $step->[0] $pg_dir $pg_port failed:\n$log");
            return;
        }
    }
    $pg_state = 'up';
    $ENV{PCHAT_TEST_PGHOST} = '127.0.0.1';
    $ENV{PCHAT_TEST_PGPORT} = $pg_port;
    $ENV{PCHAT_TEST_PGDATA} = $pg_dir;
    print "run-tests.pl: shared PostgreSQL on 127.0.0.1:$pg_port (data $pg_dir)\n";
}

sub pg_stop {
    return unless ($pg_state // '') eq 'up';
    $pg_state = 'none';
    my ($status, $out) = capture('deploy/pg.sh', 'stop', $pg_dir, $pg_port);
    if ($status != 0) {
        print "run-tests.pl: stopping the shared PostgreSQL failed:\n", indent($out);
    } elsif ($pg_dir_is_ours_only) {
        remove_tree($pg_dir);
    }
}

# --- running one program ----------------------------------------------------------------------
my $current_pgid;    # process group of the program running now, for Ctrl-C

my %exit_status;     # pid -> wait status of our children that have exited

# Whether our child PID has exited (reaping it); its wait status is then in %exit_status.
sub reaped {
    my ($pid) = @_;
    $exit_status{$pid} = $? if !exists $exit_status{$pid} && waitpid($pid, WNOHANG) == $pid;
    return exists $exit_status{$pid};
}

# Live (not zombie) processes of a process group, as "pid command" strings. Zombies do not
# count: orphans wait for init to reap them, which can take a while.
sub group_members {
    my ($pgid) = @_;
    my @members;
    for my $stat_file (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat_file or next;
        my $stat = <$fh> // '';
        close $fh;
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
        my ($pid, $comm, $state, $pgrp) = $stat =~ /^(\d+) \((.*)\) (\S) \d+ (\d+) / or next;
        push @members, "$pid $comm" if $pgrp == $pgid && $state ne 'Z';
    }
    return @members;
}

# The group leader is our child: reap it first, or as a zombie it would look alive.
sub group_alive {
    my ($pgid) = @_;
    reaped($pgid);
    return group_members($pgid) ? 1 : 0;
}

sub kill_group {
    my ($pgid) = @_;
    return unless group_alive($pgid);
    kill 'TERM', -$pgid;
    my $deadline = time + $STOP_GRACE;
    sleep 0.1 while group_alive($pgid) && time < $deadline;
    kill 'KILL', -$pgid if group_alive($pgid);
}

my ($total_pass, $total_fail) = (0, 0);

sub on_signal {
    my ($sig) = @_;
    print "\nrun-tests.pl: interrupted by SIG$sig; stopping\n";
    if ($current_pgid) {
        kill_group($current_pgid);
        $total_fail++;    # the program it interrupted
    }
    pg_stop();
    print "$total_pass passed, $total_fail failed\n";
    exit 130;
}
$SIG{INT} = \&on_signal;
$SIG{TERM} = \&on_signal;
END { pg_stop() }

# Runs PROGRAM in its own process group; returns its stdout, stderr file, wait status,
# whether it timed out and whether it left processes behind.
sub run_program {
    my ($program) = @_;
    pipe(my $out_r, my $out_w) or die "run-tests.pl: pipe: $!\n";
    my ($err_fh, $err_file) = tempfile(UNLINK => 1);
    my $pid = fork // die "run-tests.pl: fork: $!\n";
    if ($pid == 0) {
        setpgid(0, 0);
        close $out_r;
        open STDOUT, '>&', $out_w or _exit(127);
        open STDERR, '>&', $err_fh or _exit(127);
        open STDIN, '<', '/dev/null';
        exec { $program } $program or do { print STDERR "cannot run $program: $!\n"; _exit(127) };
    }
    setpgid($pid, $pid);    # also here, so the group exists before we might signal it
    $current_pgid = $pid;
    close $out_w;
    close $err_fh;

    my $sel = IO::Select->new($out_r);
    my ($out, $partial) = ('', '');
    my $deadline = time + $timeout;
    my ($status, $timed_out, $exited_at) = (undef, 0, undef);
    while (1) {
        my $now = time;
        if (!defined $status && $now >= $deadline) {
            $timed_out = 1;
            kill_group($pid);
        }
        # Output still held open by processes the program left behind ends 2 s after it.
        last if defined $exited_at && $now - $exited_at > 2;
        if (!$sel->count) {
            sleep 0.2;    # stdout closed, the program still running
        } elsif ($sel->can_read(0.2)) {
            my $n = sysread($out_r, my $buf, 65536);
            if (!$n) {
                last if defined $status;
                $sel->remove($out_r);
            } else {
                $out .= $buf;
                if ($verbose) {
                    $partial .= $buf;
                    while ($partial =~ s/^(.*\n)//) { print "    $1" }
                }
            }
        }
        if (!defined $status && reaped($pid)) {
            $status = $exit_status{$pid};
            $exited_at = time;
        }
        last if defined $status && !$sel->count;
    }
    if (!defined $status) {    # stdout closed at its exit: collect the status now
        waitpid($pid, 0) unless exists $exit_status{$pid};
        $status = $exit_status{$pid} // $?;
    }
    close $out_r;
    reaped($pid);
    my $leftovers = join ', ', group_members($pid);
    kill_group($pid) if $leftovers;
    $current_pgid = undef;
    return ($out, $err_file, $status, $timed_out, $leftovers);
}

# cmocka 1.1 prints one plan per test group; each plan starts a separate TAP stream.
sub tap_segments {
    my ($out, $split_plans) = @_;
    return ($out) unless $split_plans;
    my @segments = ('');
    my $has_plan = 0;
    for my $line (split /^/, $out) {
        if ($line =~ /^1\.\.\d+/) {
            push @segments, '' if $has_plan;
            $has_plan = 1;
        }
        $segments[-1] .= $line;
    }
    return @segments;
}

sub indent { my ($text) = @_; $text =~ s/^/    /mg; return $text }

sub tail_of_file {
    my ($file, $n) = @_;
    open my $fh, '<', $file or return '';
    my @lines = <$fh>;
    close $fh;
    splice @lines, 0, @lines - $n if @lines > $n;
    return join '', @lines;
}

my @failed_programs;
my $width = 0;
for (@programs) { $width = length if length > $width }
$width = 60 if $width > 60;

for my $program (@programs) {
    my $is_script = $program =~ /\.t$/;
    my (@problems, $failing_tap);
    my ($pass, $fail, $skipped) = (0, 0, 0);
    my ($out, $err_file, $status, $timed_out, $leftovers) = ('', undef, 0, 0, '');

    pg_start() if $is_script && $pg_state eq 'none' && -x $program;
    my $started = time;
    if (!-e $program) {
        push @problems, "does not exist";
    } elsif (!-x $program) {
        push @problems, "is not executable (chmod +x $program)";
    } elsif ($is_script && $pg_state ne 'up') {
        push @problems, 'was not run: the shared PostgreSQL did not start';
    } else {
        ($out, $err_file, $status, $timed_out, $leftovers) = run_program($program);
        my ($planned, $ran, $skip_all, $parse_errors) = (0, 0, undef, 0);
        my $has_plan = 0;
        for my $segment (tap_segments($out, !$is_script)) {
            my $parser = TAP::Parser->new({ tap => $segment });
            my $in_failure = 0;
            while (my $result = $parser->next) {
                if ($result->is_test) {
                    # cmocka 1.1 prints a skipped test as "not ok N # SKIP".
                    my $ok = $result->is_ok || $result->has_skip;
                    $ok ? $pass++ : $fail++;
                    $skipped++ if $result->has_skip;
                    $in_failure = !$ok;
                    $failing_tap .= $result->as_string . "\n" unless $ok;
                } elsif ($result->is_bailout) {
                    push @problems, 'bailed out: ' . ($result->explanation // '');
                    $in_failure = 0;
                } elsif ($in_failure && ($result->is_comment || $result->is_unknown)) {
                    $failing_tap .= $result->as_string . "\n";
                } else {
                    $in_failure = 0;
                }
            }
            $has_plan ||= defined $parser->plan && $parser->plan ne '';
            $planned += $parser->tests_planned // 0;
            $ran += $parser->tests_run;
            $skip_all = $parser->skip_all if $parser->skip_all;
            $parse_errors += grep { !/^(?:No plan found|Bad plan)/ } $parser->parse_errors;
        }
        my $exit = $status >> 8;
        my $signal = $status & 127;
        push @problems, "timed out after ${timeout}s (process group killed)" if $timed_out;
        push @problems, "killed by signal $signal" if $signal && !$timed_out;
        push @problems, "exited with status $exit but no test failed" if $exit && !$signal && !$fail;
        push @problems, 'printed no TAP plan (1..N)' if !$has_plan;
        push @problems, "planned $planned tests but ran $ran" if $has_plan && !$skip_all && $planned != $ran;
        push @problems, "printed $parse_errors lines of malformed TAP" if $parse_errors;
        push @problems, "left processes running after it exited (killed them): $leftovers" if $leftovers;
        if (defined $skip_all && !@problems && !$pass && !$fail) {
            printf "skip  %-*s  %s\n", $width, $program, $skip_all || 'skipped';
            next;
        }
        if (@problems) {
            my $missing = $has_plan && $planned > $ran ? $planned - $ran : 0;
            $fail += $missing > 1 ? $missing : 1;
        }
    }
    $fail = 1 if @problems && !$fail;

    $total_pass += $pass;
    $total_fail += $fail;
    my $seconds = sprintf '%.1f', time - $started;
    my $counts = "$pass passed" . ($fail ? ", $fail failed" : '') . ($skipped ? " ($skipped skipped)" : '');
    if (!$fail) {
        printf "ok    %-*s  %s  %ss\n", $width, $program, $counts, $seconds;
        next;
    }
    push @failed_programs, $program;
    printf "FAIL  %-*s  %s  %ss\n", $width, $program, $counts, $seconds;
    print indent("$program $_\n") for @problems;
    print indent("failing TAP:\n" . indent($failing_tap)) if $failing_tap;
    if ($err_file) {
        my $tail = tail_of_file($err_file, $STDERR_TAIL);
        print indent("last lines of its stderr:\n" . indent($tail)) if $tail ne '';
    }
    if (!$failing_tap && !$verbose && $out ne '') {
        my @lines = split /^/, $out;
        splice @lines, 0, @lines - 10 if @lines > 10;
        print indent("last lines of its stdout:\n" . indent(join '', @lines));
    }
}

pg_stop();
print "failed: @failed_programs\n" if @failed_programs;
print "$total_pass passed, $total_fail failed\n";
exit($total_fail ? 1 : 0);
