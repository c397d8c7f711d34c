/* SPDX-License-Identifier: MIT
 *
 * hello: the buildit demo program.  It prints a greeting, and with the
 * motd feature (MOTD=1, the default) the text of $(SYSCONFDIR)/hello/motd.txt
 * when that file exists.  SHOUT=1 prints the greeting in upper case.
 * Deliberately free of __DATE__/__TIME__ so that builds are reproducible.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#ifndef HELLO_VERSION
#define HELLO_VERSION "1.0"
#endif
#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef HELLO_SHOUT
#define HELLO_SHOUT 0
#endif
#ifndef HELLO_MOTD
#define HELLO_MOTD 1
#endif

static void say(const char *line)
{
    for (const char *p = line; *p != '\0'; p++)
        putchar(HELLO_SHOUT ? toupper((unsigned char)*p) : *p);
    putchar('\n');
}

#if HELLO_MOTD
static void print_motd(void)
{
    char buf[512];
    FILE *f = fopen(SYSCONFDIR "/hello/motd.txt", "r");

    if (f == NULL)
        return;
    while (fgets(buf, sizeof buf, f) != NULL)
        fputs(buf, stdout);
    fclose(f);
}
#endif

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        puts("hello " HELLO_VERSION);
        return 0;
    }

    say("Hello from buildit!");
#if HELLO_MOTD
    print_motd();
#endif
    return 0;
}
