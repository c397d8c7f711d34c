/* SPDX-License-Identifier: MIT
 *
 * libgreet 1.0: buildit's demo C library (see examples/multi).
 * Built as a static library only: the images buildit makes hold no C
 * library, so programs that use libgreet are linked with -static.
 */
#ifndef GREET_H
#define GREET_H

#include <stdio.h>

#define GREET_VERSION "1.0"

/* The word this version of the library greets with ("Hello"). */
const char *greet_word(void);

/* Writes "<greet_word()>, <who>!" and a newline to out. */
void greet(const char *who, FILE *out);

#endif /* GREET_H */
