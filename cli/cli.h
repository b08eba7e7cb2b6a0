/*
 * cli/cli.h - the stirgate command groups.
 *
 * Each group has one entry point taking the arguments after its own name
 * (argv[0] is the group name, e.g. "passport") and returning the process
 * exit code: 0 success / valid, 1 a negative outcome (an invalid PASSporT,
 * a failed demo), 2 a usage or configuration error, already explained on
 * stderr as "stirgate: <group> <command>: <what>".
 */
#ifndef CLI_H
#define CLI_H

/* passport sign | verify | jws (cli/cli_passport.c) */
int cli_passport_main(int argc, char **argv);

/* pki demo (cli/cli_pki.c) */
int cli_pki_main(int argc, char **argv);

/* demo: the offline sign/verify/tamper walk-through (cli/cli_demo.c) */
int cli_demo_main(int argc, char **argv);

/* queue list|show|requeue|hold|release|delete (cli/cli_queue.c, store) */
int cli_queue_main(int argc, char **argv);

/* cert: the x5u certificate cache (cli/cli_cert.c, x5u fetching) */
int cli_cert_main(int argc, char **argv);

/* sink: the demo webhook receiver (cli/cli_sink.c, delivery) */
int cli_sink_main(int argc, char **argv);

/* version, help (cli/cli_main.c) */
int cli_version_main(int argc, char **argv);
int cli_help_main(int argc, char **argv);

#endif
