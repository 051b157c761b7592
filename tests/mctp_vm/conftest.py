"""The guest suite under guest/ runs only inside the VM (test_vm.py boots it)."""

collect_ignore = ["guest"]
