from mlx.cli import main

main()
