// Prints the Redis Cluster hash slot of each key given on the command line, so you can check
// that keys meant to live together (a user's profile and orders) share a {hash tag}.
//
//   ./build/examples/example_key_slots "{user:42}:profile" "{user:42}:orders" "user:43"
#include <strata/redis/key_slot.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " KEY [KEY...]\n";
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
    std::cout << strata::key_slot(argv[i]) << '\t' << argv[i] << '\n';
  }
  return 0;
}
