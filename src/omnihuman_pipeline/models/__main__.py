"""``python -m omnihuman_pipeline.models``: print the parameter count of every preset."""

from .mmdit import parameter_counts


def main() -> None:
    for name, n in parameter_counts().items():
        print(f"{name:>6}: {n:>15,d} parameters ({n / 1e6:,.2f} M)")


if __name__ == "__main__":
    main()
