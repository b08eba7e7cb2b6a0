/* empty */ typedef int verify_stub_unused;
