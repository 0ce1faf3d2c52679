/* A tiny program to ship in an image: greets whoever is named on its command line. */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char host[256] = "unknown";
    const char *who = argc > 1 ? argv[1] : "world";

    gethostname(host, sizeof host);
    printf("Hello, %s! This is %s, running as process %d.\n", who, host, (int)getpid());
    return 0;
}
