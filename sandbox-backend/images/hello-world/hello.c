/*
 * The program of Berth's offline hello-world image. It is linked statically so that the
 * image holds this one file and nothing else; it uses write(2) rather than stdio so that
 * the binary stays small.
 */
#include <unistd.h>

static const char message[] =
    "Hello from Docker!\n"
    "Your Docker engine is working: this text was printed by a program inside a container.\n"
    "\n"
    "What just happened, step by step:\n"
    " 1. The docker command (the client) asked the Docker daemon to run \"hello-world\".\n"
    " 2. The daemon did not have that image yet, so it downloaded (pulled) it from a registry.\n"
    " 3. The daemon created a new container from the image and started its only program,\n"
    "    the one writing these lines.\n"
    " 4. The daemon passed the container's output back to the client, which showed it\n"
    "    in your terminal. The program then ended, and so did the container.\n"
    "\n"
    "Something more to try: a shell inside a Debian container.\n"
    " $ docker run -it debian bash\n"
    "\n";

int main(void) {
  const char *p = message;
  ssize_t left = sizeof message - 1;
  while (left > 0) {
    ssize_t n = write(1, p, (size_t)left);
    if (n <= 0) return 1;
    p += n;
    left -= n;
  }
  return 0;
}
