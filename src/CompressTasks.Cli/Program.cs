// Entry point of the `compress` tool; commands are added one file each under Commands/.
return 0;
