/* samizdat: the command-line client. Dispatches to one subcommand. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "cmd.h"
#include "library.h"
#include "samizdat/common.h"
#include "util.h"

static const char USAGE[] =
    "usage: samizdat COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "Signed, compressed article bundles that any relay can carry and only the\n"
    "publisher's key can vouch for.\n"
    "\n"
    "Commands:\n"
    "  keygen    make a publisher key pair\n"
    "  pack      pack article files into a signed bundle\n"
    "  verify    verify bundles against trusted publisher keys\n"
    "  unpack    verify bundles and add their articles to a library folder\n"
    "  inspect   show a bundle's header and articles without trusting it\n"
    "  fetch     get trusted publishers' bundles through peers into a library\n"
    "\n"
    "With a local samizdatd:\n"
    "  publish   hand article files to a publishing daemon; prints the bundle id\n"
    "  import    hand bundle files to the daemon (sneakernet in)\n"
    "  export    copy a stored bundle out of the daemon (sneakernet out)\n"
    "  status    show the daemon's state\n"
    "  list      list the bundles the daemon holds\n"
    "\n"
    "Run 'samizdat COMMAND --help' or 'samizdat help COMMAND' for a command's\n"
    "options.\n"
    "Exit status: 0 success, 1 refused (verification failed), 2 usage error,\n"
    "3 bad input file, 4 key or passphrase problem, 5 cannot write output,\n"
    "6 daemon problem, 7 network problem.\n";

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} COMMANDS[] = {
    {"keygen", cmd_keygen}, {"pack", cmd_pack},       {"verify", cmd_verify},
    {"unpack", cmd_unpack}, {"inspect", cmd_inspect}, {"publish", cmd_publish},
    {"import", cmd_import}, {"status", cmd_status},   {"list", cmd_list},
    {"export", cmd_export}, {"fetch", cmd_fetch},
};

/* Exits with the status, or EXIT_OUTPUT when standard output could not be written. */
static void
finish(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        util_err("cannot write to standard output");
        rc = EXIT_OUTPUT;
    }
    exit(rc);
}

/* Runs the command called name; false when there is none. */
static bool
run_command(const char *name, int argc, char **argv)
{
    size_t i;

    for (i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strcmp(name, COMMANDS[i].name) == 0)
            finish(COMMANDS[i].run(argc, argv));
    return false;
}

/* The library's lock is held by another program (library_on_wait()). */
static void
on_library_wait(const char *dir)
{
    util_err("waiting for another program that is writing the library %s (another fetch or "
             "unpack?); it goes on when that one ends (Ctrl-C twice stops it; what was written "
             "stays)",
             dir);
}

/*
 * keygen, pack and fetch hold secrets (a secret key, a passphrase, a network
 * key, a proxy's password), not all in memory a core dump leaves out: those
 * leave no core dump behind.
 */
static void
no_core_dump(const char *cmd)
{
    struct rlimit rl = {0, 0};

    if (strcmp(cmd, "keygen") != 0 && strcmp(cmd, "pack") != 0 && strcmp(cmd, "fetch") != 0)
        return;
    if (setrlimit(RLIMIT_CORE, &rl) != 0)
        util_err("warning: cannot turn off core dumps: a crash could leave secrets in a core "
                 "file");
#ifdef __linux__
    /* Nor a crash reporter's copy, nor another process of the user's reading its memory. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        util_err("warning: cannot mark this process not dumpable: a crash reporter could keep "
                 "secrets");
#endif
}

int
main(int argc, char **argv)
{
    static char help_flag[] = "--help";

    if (sz_init() != 0) {
        util_err("cannot initialise libsodium");
        exit(EXIT_KEY);
    }
    library_on_wait(on_library_wait);
    if (argc < 2) {
        fputs(USAGE, stderr);
        exit(EXIT_USAGE);
    }
    if (strcmp(argv[1], "help") == 0 && argc >= 3) {
        /* samizdat help COMMAND: that command's --help. */
        char *hv[] = {argv[2], help_flag, NULL};
        if (!run_command(argv[2], 2, hv)) {
            util_err("unknown command '%s': run 'samizdat --help' for the list", argv[2]);
            exit(EXIT_USAGE);
        }
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(USAGE, stdout);
        finish(EXIT_OK);
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("samizdat %s\n", SZ_VERSION_STRING);
        finish(EXIT_OK);
    }
    no_core_dump(argv[1]);
    if (!run_command(argv[1], argc - 1, argv + 1))
        util_err("unknown command '%s': run 'samizdat --help' for the list", argv[1]);
    exit(EXIT_USAGE);
}
