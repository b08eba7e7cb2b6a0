/* cli/cli_main.c - placeholder until the CLI lands. */
#include <stdio.h>

int main(void);

int
main(void)
{
    fputs("stirgate: not built yet\n", stderr);
    return 2;
}
