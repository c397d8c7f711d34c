/* SPDX-License-Identifier: MIT
 *
 * greet-bye: says goodbye to every name in $(DATADIR)/greet/names.txt (one
 * name a line, blank lines skipped): "Bye from Hello land, Alice." where
 * "Hello" is libgreet's greet_word().  SHOUT=1 prints the lines in upper
 * case.  An argument names another file to read instead.
 * Deliberately free of __DATE__/__TIME__ so that builds are reproducible.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <greet.h>

#ifndef NAMES_FILE
#define NAMES_FILE "/usr/share/greet/names.txt"
#endif
#ifndef BYE_SHOUT
#define BYE_SHOUT 0
#endif

static void bye(const char *name)
{
    char buf[512];

    snprintf(buf, sizeof buf, "Bye from %s land, %s.", greet_word(), name);
    if (BYE_SHOUT)
        for (char *p = buf; *p != '\0'; p++)
            *p = (char)toupper((unsigned char)*p);
    puts(buf);
}

int main(int argc, char **argv)
{
    const char *path = NAMES_FILE;
    char line[256];
    FILE *f;

    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        puts("greet-bye 1.0 (libgreet " GREET_VERSION ")");
        return 0;
    }
    if (argc > 1)
        path = argv[1];

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "greet-bye: %s: %s\n", path, strerror(errno));
        return 1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        bye(line);
    }
    fclose(f);
    return 0;
}
