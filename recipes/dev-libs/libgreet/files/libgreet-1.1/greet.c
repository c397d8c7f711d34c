/* SPDX-License-Identifier: MIT
 *
 * libgreet 1.1: greets with "Hi".
 */
#include "greet.h"

const char *greet_word(void)
{
    return "Hi";
}

void greet(const char *who, FILE *out)
{
    fprintf(out, "%s, %s!\n", greet_word(), who);
}
