/* SPDX-License-Identifier: MIT
 *
 * libgreet 1.0: greets with "Hello".
 */
#include "greet.h"

const char *greet_word(void)
{
    return "Hello";
}

void greet(const char *who, FILE *out)
{
    fprintf(out, "%s, %s!\n", greet_word(), who);
}
