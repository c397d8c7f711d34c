/* SPDX-License-Identifier: MIT
 *
 * greet-hello: greets every name in $(DATADIR)/greet/names.txt (one name a
 * line, blank lines skipped) with libgreet: "Hello, Alice!" with libgreet
 * 1.0.  An argument names another file to read instead.
 * Deliberately free of __DATE__/__TIME__ so that builds are reproducible.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <greet.h>

#ifndef NAMES_FILE
#define NAMES_FILE "/usr/share/greet/names.txt"
#endif

int main(int argc, char **argv)
{
    const char *path = NAMES_FILE;
    char line[256];
    FILE *f;

    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        puts("greet-hello 1.0 (libgreet " GREET_VERSION ")");
        return 0;
    }
    if (argc > 1)
        path = argv[1];

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "greet-hello: %s: %s\n", path, strerror(errno));
        return 1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        greet(line, stdout);
    }
    fclose(f);
    return 0;
}
