from fenlei.cli import main

main()
